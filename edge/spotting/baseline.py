"""Adaptive neutral baseline and noise level per feature.

A person's neutral face, the camera distance and the lighting drift over an
interview, so thresholds are relative to a rolling median (the neutral) and a
rolling MAD (the noise) over the last few seconds of frames that were not part
of an event. The window is in time, not frames, so it means the same at 30 and
200 fps. Medians are recomputed every `recompute_ms`, not per frame: the ring
buffer append is O(1) and the recompute is amortised to a few microseconds.
"""

from __future__ import annotations

import numpy as np
import numpy.ma  # noqa: F401  np.median imports it on first use: ~20 ms inside a live frame otherwise

MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution times this is its sigma
MIN_SAMPLES = 12  # fewest fresh frames a refreshed estimate may rest on


class Baseline:
    """Rolling median and robust sigma of a feature vector over a time window."""

    def __init__(
        self,
        n_features: int,
        window_ms: float,
        noise_floor: np.ndarray | float,
        max_fps: float = 250.0,
        recompute_ms: float = 100.0,
        min_ms: float = 300.0,
    ) -> None:
        self.window_ms = float(window_ms)
        self.recompute_ms = float(recompute_ms)
        self.min_ms = float(min_ms)
        cap = max(16, int(np.ceil(window_ms / 1000.0 * max_fps)) + 1)
        self._x = np.zeros((cap, n_features))
        self._t = np.full(cap, -np.inf)
        self._a = np.zeros((cap, 2))  # each frame's (yaw, pitch) as the pose residual took it
        self._floor = np.broadcast_to(np.asarray(noise_floor, dtype=np.float64), (n_features,)).copy()
        self._head = 0
        self._count = 0
        self._first_ms = np.inf
        self._last_ms = -np.inf
        self._computed_ms = -np.inf
        self._ready = False
        self.median = np.zeros(n_features)
        self.sigma = self._floor.copy()

    def reset(self) -> None:
        self._ready = False
        self._clear()

    def _clear(self) -> None:
        self._t.fill(-np.inf)
        self._head = 0
        self._count = 0
        self._first_ms = np.inf
        self._last_ms = -np.inf
        self._computed_ms = -np.inf

    def _push(self, t_ms: float, x: np.ndarray, angles: np.ndarray | None = None) -> None:
        self._x[self._head] = x
        self._a[self._head] = 0.0 if angles is None else angles
        self._t[self._head] = t_ms
        self._head = (self._head + 1) % len(self._t)
        self._count = min(self._count + 1, len(self._t))
        self._last_ms = t_ms
        self._first_ms = min(self._first_ms, t_ms)

    @property
    def ready(self) -> bool:
        """True once the window has held `min_ms` of neutral frames, until reset.

        A long stretch without neutral frames (talking, a long expression) ages
        the window out, but the last estimate stays the best one there is.
        """
        if not self._ready:
            self._ready = self._count > 2 and self._last_ms - self._first_ms >= self.min_ms
        return self._ready

    @property
    def span_ms(self) -> float:
        return max(0.0, self._last_ms - self._first_ms) if self._count else 0.0

    def add(self, t_ms: float, x: np.ndarray, angles: np.ndarray | None = None) -> None:
        """Record one neutral frame; refresh median and sigma when due."""
        self._push(t_ms, x, angles)
        # Recompute more often while warming up, so early estimates settle fast.
        due = self.recompute_ms if self.ready else self.recompute_ms / 4
        if t_ms - self._computed_ms >= due:
            self.recompute(t_ms)

    def rebase(self, now_ms: float, samples: list[np.ndarray], angles: list[np.ndarray | None] | None = None) -> None:
        """The subject came to rest elsewhere: these recent samples become the neutral (noise kept)."""
        if not samples:
            return
        self._clear()
        n = len(samples)
        for i, x in enumerate(samples):
            self._push(now_ms - (n - 1 - i) * 1e-3, x, angles[i] if angles else None)  # inside the window, in order
        self.median = np.median(np.asarray(samples), axis=0)
        self._computed_ms = now_ms

    def shift(self, start: int, delta: np.ndarray) -> None:
        """Features from column `start` on are now measured from a new zero `delta` away (the optical
        flow's reference was renewed): move the neutral with them instead of forgetting it."""
        self._x[:, start:] -= delta
        self.median[start:] -= delta

    def recorrect(self, delta: np.ndarray) -> None:
        """The pose residual's fit changed by `delta` (2, k): the first k features of every stored frame
        are corrected with the new fit, so the neutral and the frames measured against it agree."""
        k = delta.shape[1]
        self._x[:, :k] -= self._a @ delta
        live = np.isfinite(self._t)
        if live.any():
            self.median[:k] -= np.median(self._a[live], axis=0) @ delta

    def recompute(self, now_ms: float) -> None:
        keep = self._t >= now_ms - self.window_ms
        n = int(keep.sum())
        if n == 0 or (self._ready and n < MIN_SAMPLES):
            return  # too few fresh frames: keep the previous estimate
        x = self._x[keep]
        self._first_ms = float(self._t[keep].min())
        med = np.median(x, axis=0)
        mad = np.median(np.abs(x - med), axis=0)
        self.median = med
        self.sigma = np.maximum(MAD_TO_SIGMA * mad, self._floor)
        self._computed_ms = now_ms
