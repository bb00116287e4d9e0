"""Frames from a USB/V4L2 camera through OpenCV: the alternative to picamera2."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import cv2

from edge.errors import SourceError
from edge.sources.base import FrameSource
from edge.sources.frame import Frame


class WebcamSource(FrameSource):
    """A V4L2 camera by index. Timestamps are taken on arrival (monotonic)."""

    def __init__(self, index: int, fps: float, width: int, height: int) -> None:
        self.device = f"/dev/video{index}"
        self.name = self.device
        if not Path(self.device).exists():
            raise SourceError(f"{self.device}: camera not found (no such device)")
        self._cap = cv2.VideoCapture(index, cv2.CAP_V4L2)
        if not self._cap.isOpened():
            raise SourceError(f"{self.device}: cannot open camera (busy, or not a capture device)")
        self._cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        self._cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        self._cap.set(cv2.CAP_PROP_FPS, fps)
        self.nominal_fps = float(self._cap.get(cv2.CAP_PROP_FPS) or fps)

    def frames(self) -> Iterator[Frame]:
        index = 0
        while True:
            ok, bgr = self._cap.read()
            t_ns = time.monotonic_ns()
            if not ok:
                raise SourceError(f"{self.device}: camera stopped delivering frames")
            yield Frame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), t_ns, index)
            index += 1

    def close(self) -> None:
        self._cap.release()
