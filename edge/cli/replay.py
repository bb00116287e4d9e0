"""`microexpr replay VIDEO`: recorded footage through the same pipeline the camera uses."""

from __future__ import annotations

import argparse
import logging
from contextlib import ExitStack
from pathlib import Path

from edge.analysis import analyse, make_spotter
from edge.config import Config, load_config
from edge.errors import InputError
from edge.events.outbox import Outbox, open_outbox
from edge.publish.service import PublisherService
from edge.sinks import EventsCsvSink, OutboxSink, ProgressSink, ResultsJsonlSink, Sink
from edge.sources.video import VideoFileSource
from edge.vision.pipeline import FacePipeline

log = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("replay", help="run recorded video through the pipeline")
    p.add_argument("video", type=Path)
    p.add_argument("--out", type=Path, help="per-frame results as JSON lines: face, landmarks, pose, emotion, "
                   "timings, and the spotting score with its gate flags")
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
    with ExitStack() as stack:
        stack.enter_context(src)
        if not args.no_spotting:
            # Events are committed to the outbox first; published when a broker is configured.
            outbox = stack.enter_context(open_outbox(cfg))
            publisher = _publisher(cfg, outbox, stack)
            current = outbox.current_session()
            sinks.append(OutboxSink(outbox, cfg.device_id, current["id"] if current else "", publisher))
        result = analyse(src.frames(), pipeline, spotter, sinks, source_name=args.video.name,
                         loop=cfg.vision.loop, gil_switch_ms=cfg.vision.gil_switch_ms)
    print(result.summary())
    return 0


def _publisher(cfg: Config, outbox: Outbox, stack: ExitStack) -> PublisherService | None:
    if not cfg.mqtt.url:
        return None
    service = PublisherService(cfg, outbox)
    service.start()

    def drain() -> None:
        if not service.flush(timeout=10.0):
            log.warning("broker did not acknowledge every event in 10 s; they stay in the outbox for the next run")
        service.stop()

    stack.callback(drain)
    return service
