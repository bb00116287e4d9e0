"""Frames from a recorded video file (OpenCV), with the container's timestamps."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import cv2

from edge.errors import SourceError
from edge.sources.base import FrameSource
from edge.sources.frame import Frame

log = logging.getLogger(__name__)

# FFmpeg's own log level for OpenCV's backend: AV_LOG_QUIET. OpenCV reads it once, when its FFmpeg
# backend first starts in the process; the user's own setting wins.
FFMPEG_LOGLEVEL = "-8"


def open_quietly(path: Path) -> "cv2.VideoCapture":
    """Open `path` with OpenCV's FFmpeg backend without FFmpeg's and OpenCV's own warnings on stderr.

    A file that is not a video is reported once, by our SourceError; FFmpeg ("moov atom not found")
    and OpenCV ("backend is generally available but can't be used") would say it first, in their words.
    """
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", FFMPEG_LOGLEVEL)
    # Not every OpenCV build exposes its log level (the Pi's and older wheels lack cv2.utils.logging):
    # there only FFmpeg is quietened.
    levels = getattr(getattr(cv2, "utils", None), "logging", None)
    if levels is None:
        return cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    previous = levels.getLogLevel()
    levels.setLogLevel(levels.LOG_LEVEL_ERROR)
    try:
        return cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    finally:
        levels.setLogLevel(previous)


class VideoFileSource(FrameSource):
    """Replays a video file as fast as possible, or paced to its own rate (`realtime`).

    Timestamps come from the container (CAP_PROP_POS_MSEC), so a 120 or 200 fps
    file keeps its true timing. A file that stops decoding before the frame count
    its container declares raises SourceError after yielding every good frame,
    so nothing already analysed is lost.
    """

    def __init__(self, path: str | Path, realtime: bool = False) -> None:
        self.path = Path(path)
        self.name = self.path.name
        self.realtime = realtime
        if not self.path.exists():
            raise SourceError(f"{self.path}: no such file")
        if self.path.is_dir():
            raise SourceError(f"{self.path}: is a directory, not a video file")
        if self.path.stat().st_size == 0:
            raise SourceError(f"{self.path}: empty file (0 bytes)")
        self._cap = open_quietly(self.path)
        if not self._cap.isOpened():
            raise SourceError(f"{self.path}: not a readable video (no decodable stream)")
        fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.nominal_fps = fps if 0 < fps < 10_000 else 0.0
        count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.frame_count = count if count > 0 else None
        ok, first = self._cap.read()
        if not ok or first is None:
            self._cap.release()
            raise SourceError(f"{self.path}: not a readable video (no frame decodes)")
        self._first = first
        self._first_ms = float(self._cap.get(cv2.CAP_PROP_POS_MSEC))

    def frames(self) -> Iterator[Frame]:
        cap = self._cap
        period_ms = 1000.0 / self.nominal_fps if self.nominal_fps else 1000.0 / 30.0
        index = 0
        bgr, pos_ms = self._first, self._first_ms
        last_ms = -1.0
        start_wall = time.monotonic_ns()
        while bgr is not None:
            # Container time; fall back to index/rate where the demuxer gives none.
            t_ms = pos_ms if pos_ms > last_ms else (last_ms + period_ms if last_ms >= 0 else 0.0)
            last_ms = t_ms
            if self.realtime:
                due = start_wall + int(t_ms * 1e6)
                delay = due - time.monotonic_ns()
                if delay > 0:
                    time.sleep(delay / 1e9)
            yield Frame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), int(round(t_ms * 1e6)), index)
            index += 1
            ok, bgr = cap.read()
            if not ok:
                bgr = None
            else:
                pos_ms = float(cap.get(cv2.CAP_PROP_POS_MSEC))
        self.frames_read = index
        if self.frame_count and index < self.frame_count * 0.98 - 1:
            raise SourceError(
                f"{self.path}: truncated video (decoded {index} of {self.frame_count} frames)"
            )

    def close(self) -> None:
        self._cap.release()
