"""`microexpr camera`: open the configured camera, read a few frames, report what it delivers.

The quick check an installer runs before `microexpr run`: a missing or busy camera
is one clear line and exit status 2 here, while the service itself keeps retrying.
"""

from __future__ import annotations

import argparse
import time

from edge.config import load_config
from edge.errors import SourceError
from edge.sources import open_source


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("camera", help="check the camera: open it, read frames, print size and rate")
    p.add_argument("--source", choices=("webcam", "picamera2"), help="camera backend (source.kind)")
    p.add_argument("--index", type=int, help="V4L2 camera index for --source webcam (source.camera_index)")
    p.add_argument("--frames", type=int, default=60, help="frames to read (default 60)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config, overrides={"source.kind": args.source or "webcam",
                                              "source.camera_index": args.index})
    with open_source(cfg.source) as src:
        first = last = None
        n = 0
        start = time.monotonic()
        for frame in src.frames():
            first = first or frame
            last = frame
            n += 1
            if n >= args.frames or time.monotonic() - start > 10:
                break
        if first is None or last is None:
            raise SourceError(f"{src.name}: opened, but delivered no frame")
        span = (last.t_ns - first.t_ns) / 1e9
        fps = (n - 1) / span if span > 0 else 0.0
        h, w = first.image.shape[:2]
        print(f"{src.name}: {w}x{h}, {n} frames at {fps:.1f} fps (requested {cfg.source.fps:.0f})")
    return 0
