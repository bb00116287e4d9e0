"""The one frame type every source yields."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Frame:
    """One camera or video frame.

    `image` is HxWx3 uint8 in RGB order (what the TFLite models eat; converting
    once at the source saves a copy per model). `t_ns` is a monotonic timestamp in
    nanoseconds: the sensor timestamp on a camera, the container timestamp in a
    video file. Frame rates are derived from timestamps, never assumed.

    `luma` is the camera's own grey (the Y plane, HxW uint8) when the source delivers YUV420:
    the spotter's optical flow crops it directly instead of converting RGB back to grey.
    """

    image: np.ndarray
    t_ns: int
    index: int
    luma: np.ndarray | None = None

    @property
    def t_ms(self) -> float:
        return self.t_ns / 1e6
