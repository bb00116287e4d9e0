"""A boxcar mean over a time window: less landmark jitter at high frame rates, nothing lost at low."""

from __future__ import annotations

from collections import deque

import numpy as np


class Boxcar:
    """Mean of the samples within the last `window_ms` (one frame at 30-50 fps, 3-4 at 120-200)."""

    def __init__(self, window_ms: float) -> None:
        self.window_ms = window_ms
        self._recent: deque[tuple[float, np.ndarray]] = deque()

    def __call__(self, t_ms: float, x: np.ndarray) -> tuple[np.ndarray, float]:
        """The smoothed value and the time it stands for (the window's centre)."""
        self._recent.append((t_ms, x))
        while self._recent[0][0] <= t_ms - self.window_ms:
            self._recent.popleft()
        if len(self._recent) == 1:
            return x, t_ms
        return np.mean([v for _, v in self._recent], axis=0), float(np.mean([t for t, _ in self._recent]))
