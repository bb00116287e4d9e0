"""`microexpr replay VIDEO`: recorded footage through the same pipeline the camera uses."""

from __future__ import annotations

import argparse
from pathlib import Path

from edge.analysis import analyse, make_spotter
from edge.config import load_config
from edge.errors import InputError
from edge.sinks import EventsCsvSink, ProgressSink, ResultsJsonlSink, Sink
from edge.sources.video import VideoFileSource
from edge.vision.pipeline import FacePipeline


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("replay", help="run recorded video through the pipeline")
    p.add_argument("video", type=Path)
    p.add_argument("--out", type=Path, help="per-frame results as JSON lines")
    p.add_argument("--events-out", type=Path, help="events as an annotation CSV (scored by `microexpr eval`)")
    p.add_argument("--realtime", action="store_true", help="pace frames to the file's own rate")
    p.add_argument("--no-spotting", action="store_true", help="vision only")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    for out in (args.out, args.events_out):
        if out is not None and not out.parent.exists():
            raise InputError(f"{out}: folder {out.parent} does not exist")
    src = VideoFileSource(args.video, realtime=args.realtime)
    pipeline = FacePipeline.from_config(cfg.vision)
    spotter = None if args.no_spotting else make_spotter(cfg, pipeline)
    sinks: list[Sink] = [ProgressSink(src.frame_count)]
    if args.out:
        sinks.append(ResultsJsonlSink(args.out))
    if args.events_out:
        sinks.append(EventsCsvSink(args.events_out, args.video.name))
    sinks.extend(_delivery_sinks(cfg))
    with src:
        result = analyse(src.frames(), pipeline, spotter, sinks, source_name=args.video.name)
    print(result.summary())
    return 0


def _delivery_sinks(cfg) -> list[Sink]:
    """The outbox (and MQTT when configured): wired by edge.events.delivery when present."""
    try:
        from edge.events.delivery import delivery_sinks
    except ImportError:
        return []
    return delivery_sinks(cfg)
