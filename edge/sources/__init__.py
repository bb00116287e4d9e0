"""Frame sources. The backend is chosen here and only here, from `source.kind`.

Like gpiozero's pin factory: `video` (a file), `webcam` (V4L2) or `picamera2`,
set in the config or `$MICROEXPR_SOURCE`; nothing falls back to another backend
silently.
"""

from __future__ import annotations

from edge.config import SourceConfig
from edge.errors import SourceError
from edge.sources.base import FrameSource
from edge.sources.frame import Frame

__all__ = ["Frame", "FrameSource", "open_source"]


def open_source(cfg: SourceConfig) -> FrameSource:
    if cfg.kind == "video":
        if not cfg.path:
            raise SourceError("source.path: no video file given for source.kind = 'video'")
        from edge.sources.video import VideoFileSource

        return VideoFileSource(cfg.path, realtime=cfg.realtime)
    if cfg.kind == "webcam":
        from edge.sources.webcam import WebcamSource

        return WebcamSource(cfg.camera_index, cfg.fps, cfg.width, cfg.height)
    if cfg.kind == "picamera2":
        from edge.sources.picam import PiCameraSource

        return PiCameraSource.from_config(cfg)
    raise SourceError(f"source.kind: unknown frame source {cfg.kind!r}")
