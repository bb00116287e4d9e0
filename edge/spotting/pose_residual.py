"""The part of each landmark AU estimate that the head's rotation explains, learnt on calm frames.

The similarity alignment removes a rotation only as far as the landmark model's
3D shape follows it. A turn or a tilt of a few degrees still bends the fitted
mouth, lids and brows: on generated footage yaw and pitch explain 50-80% of the
calm-frame variance of most estimates. While the spotter is inside an excursion
its neutral is frozen, so slow head drift piles up there into an excursion that
never ends, and a macro expression inside it is lost.

A ridge regression per estimate on (yaw, pitch), both taken from the alignment's
rotation (`align.rotation_angles`; rigid points only, so an expression barely
moves them), fitted on the frames the baseline learns from, predicts that part;
the spotter subtracts it.
Where the head keeps still or its rotation explains nothing, the ridge keeps the
coefficients near zero and nothing changes.
"""

from __future__ import annotations

import math

import numpy as np

HALF_LIFE_MS = 60_000.0  # older calm frames weigh half after this long
RIDGE_RAD = math.radians(0.2)  # rotation spread below this explains little: the fit stays near zero
MIN_WEIGHT = 60.0  # calm frames (decayed) before any coefficient is used
# The rotation is followed this slowly: drift, not landmark jitter or an expression's pull on the eye corners.
ANGLE_TAU_MS = 250.0


class PoseResidual:
    """Learns how n estimates follow (yaw, pitch) on calm frames; removes that from every frame."""

    def __init__(self, n: int, keep: np.ndarray | None = None) -> None:
        """`keep`: estimates never corrected (what the blink and talking gates read as absolute levels)."""
        self._free = np.ones(n, dtype=bool) if keep is None else ~np.asarray(keep, dtype=bool)
        self._w = 0.0
        self._sx = np.zeros(2)
        self._sy = np.zeros(n)
        self._sxx = np.zeros((2, 2))
        self._sxy = np.zeros((2, n))
        self._last_ms: float | None = None
        self._slow: np.ndarray | None = None
        self._slow_ms = 0.0
        self.coef = np.zeros((2, n))

    def follow(self, t_ms: float, angles: np.ndarray) -> np.ndarray:
        """This frame's rotation, low-passed: the angles `remove` and `add` take."""
        if self._slow is None:
            self._slow = angles.copy()
        else:
            a = 1.0 - math.exp(-max(0.0, t_ms - self._slow_ms) / ANGLE_TAU_MS)
            self._slow += a * (angles - self._slow)
        self._slow_ms = t_ms
        return self._slow.copy()

    def remove(self, angles: np.ndarray, values: np.ndarray) -> np.ndarray:
        """The estimates with the rotation's predicted share taken out."""
        return values - angles @ self.coef

    def add(self, t_ms: float, angles: np.ndarray, values: np.ndarray) -> None:
        """A calm frame: its raw estimates (before `remove`) and its rotation."""
        if self._last_ms is not None:
            decay = 0.5 ** (max(0.0, t_ms - self._last_ms) / HALF_LIFE_MS)
            self._w *= decay
            self._sx *= decay
            self._sy *= decay
            self._sxx *= decay
            self._sxy *= decay
        self._last_ms = t_ms
        self._w += 1.0
        self._sx += angles
        self._sy += values
        self._sxx += np.outer(angles, angles)
        self._sxy += np.outer(angles, values)
        if self._w >= MIN_WEIGHT:
            self._fit()

    def _fit(self) -> None:
        mx = self._sx / self._w
        cxx = self._sxx / self._w - np.outer(mx, mx)
        cxy = self._sxy / self._w - np.outer(mx, self._sy / self._w)
        self.coef = np.linalg.solve(cxx + np.eye(2) * RIDGE_RAD**2, cxy) * self._free
