"""`microexpr run`: the long-running device process (what microexpr.service starts)."""

from __future__ import annotations

import argparse
import signal
from contextlib import ExitStack

from edge.config import load_config


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run the unit: camera, pipeline, spotter, outbox, publisher")
    p.add_argument("--source", choices=("video", "webcam", "picamera2"), help="frame source (source.kind)")
    p.add_argument("--video", help="video file for --source video (source.path)")
    p.add_argument("--realtime", action="store_true", default=None, help="pace a video file to its own rate")
    p.add_argument("--exit-at-end", action="store_true", help="exit 0 when a replayed video ends")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edge.device.wiring import build_unit

    cfg = load_config(args.config, overrides={
        "source.kind": args.source,
        "source.path": args.video,
        "source.realtime": args.realtime,
    })
    with ExitStack() as stack:
        unit = build_unit(cfg, stack, exit_at_end=args.exit_at_end)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: unit.request_stop())
        return unit.run()
