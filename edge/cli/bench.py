"""`microexpr bench FOOTAGE|--synth`: frames per second, per-stage and end-to-end latency,
memory, and (with --compare mediapipe) the ratio to MediaPipe FaceMesh on the same frames."""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable
from pathlib import Path

from edge.bench.footage import Footage, decode, synth_clip
from edge.bench.measure import BLOCK, MediaPipeMesh, Pass, realtime, throughput
from edge.bench.report import BenchReport, machine, os_threads, peak_rss_mb, percentiles
from edge.bench.stalls import without_host_stalls
from edge.config import Config, load_config
from edge.errors import InputError
from edge.sources.capture import poll_budget_s
from edge.vision.pipeline import FacePipeline

log = logging.getLogger(__name__)

WARMUP_FRAMES = 30
DEFAULT_REPLAY_S = 60.0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="measure the pipeline's speed (optionally against MediaPipe FaceMesh)")
    p.add_argument("footage", nargs="?", type=Path, help="video file (decoded once into memory)")
    p.add_argument("--synth", action="store_true", help="use the default generated clip instead of FOOTAGE")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument("--rate", type=float, help="also replay in real time at this camera rate (fps)")
    p.add_argument("--compare", choices=["mediapipe"], help="run MediaPipe FaceMesh on the same frames")
    p.add_argument("--seconds", type=float, help="footage per pass in seconds (looped); default: the clip "
                   f"once, and {DEFAULT_REPLAY_S:g} s for the --rate replay")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if (args.footage is None) == (not args.synth):
        raise InputError("bench: give either a FOOTAGE file or --synth")
    if args.rate is not None and not 0 < args.rate <= 1000:
        raise InputError(f"--rate: must be between 0 and 1000 fps, got {args.rate:g}")
    if args.seconds is not None and not 0 < args.seconds <= 3600:
        raise InputError(f"--seconds: must be between 0 and 3600, got {args.seconds:g}")
    cfg = load_config(args.config)
    path = synth_clip() if args.synth else args.footage
    footage = decode(path)
    pipeline = FacePipeline.from_config(cfg.vision)
    notes: list[str] = []
    new_spotter = _spotter_factory(cfg, pipeline, notes)
    mediapipe = MediaPipeMesh() if args.compare == "mediapipe" else None

    _warm_up(footage.frames, pipeline, mediapipe)
    count = round(args.seconds * footage.fps) if args.seconds else len(footage.frames)
    tp = throughput(footage.frames, count, footage.period_ns, pipeline, new_spotter(), mediapipe, footage.name)
    if mediapipe is not None:
        mediapipe.close()
        notes.append(f"ours and MediaPipe took alternate turns of {BLOCK} frames on the same {count} frames")
    rp: Pass | None = None
    if args.rate is not None:
        pipeline.reset()
        replay_count = round((args.seconds or DEFAULT_REPLAY_S) * args.rate)
        rp = realtime(footage.frames, args.rate, replay_count, cfg.source.queue_frames, pipeline, new_spotter(),
                      footage.name, poll_budget_s(cfg.source.wait, args.rate))
    report = _report(footage, tp, rp, pipeline, args, notes)
    print(json.dumps(report.to_json(), indent=1) if args.json else report.text())
    return 0


def _spotter_factory(cfg: Config, pipeline: FacePipeline, notes: list[str]) -> Callable[[], object | None]:
    """A fresh spotter per pass; without the spotting package the bench says so, loudly."""
    from edge.analysis import make_spotter

    try:
        make_spotter(cfg, pipeline)
    except ImportError as e:
        log.warning("no spotter (%s): measuring vision only", e)
        notes.append(f"spotting NOT measured: {e}")
        return lambda: None
    return lambda: make_spotter(cfg, pipeline)


def _warm_up(frames: list, pipeline: FacePipeline, mediapipe: MediaPipeMesh | None) -> None:
    """First invocations pay one-off costs (allocation, weight packing); keep them out of the numbers."""
    warm = frames[:WARMUP_FRAMES]
    for f in warm:
        pipeline.process(f)
    pipeline.reset()
    if mediapipe is not None:
        mediapipe.run(warm)


def _rounded(stats: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    return {k: {kk: round(vv, 3) if isinstance(vv, float) else vv for kk, vv in v.items()} for k, v in stats.items()}


def _report(footage: Footage, tp: Pass, rp: Pass | None, pipeline: FacePipeline, args: argparse.Namespace,
            notes: list[str]) -> BenchReport:
    a = tp.analysis
    stages = _rounded(a.stage_stats())
    report = BenchReport(
        footage=footage.name, size=footage.size, footage_fps=round(footage.fps, 2),
        decoded_frames=len(footage.frames), frames=a.frames,
        fps=round(tp.fps, 1), stages_ms=stages, latency_ms=percentiles(tp.latency_ms),
        frame_ms=percentiles(tp.busy_ms),
        peak_rss_mb=round(peak_rss_mb(), 1), footage_mb=round(footage.megabytes, 1),
        runtime=f"{pipeline.runtime.name} {pipeline.runtime.version}", threads=dict(pipeline.threads),
        os_threads=os_threads(), machine=machine(), faces=a.faces, events=len(a.events),
        spotting="spotting" in a.stage_ms and bool(a.stage_ms["spotting"]), notes=notes,
    )
    if tp.mediapipe_frames:
        report.mediapipe_fps = round(tp.mediapipe_fps, 1)
        report.mediapipe_faces = tp.mediapipe_faces
        report.ratio = round(tp.fps / tp.mediapipe_fps, 3) if tp.mediapipe_fps else 0.0
    if rp is not None:
        report.rate = args.rate
        report.dropped = rp.dropped
        report.replay_frames = rp.analysis.frames
        report.replay_frames_in = rp.frames_in
        report.latency_ms = percentiles(rp.latency_ms)
        report.replay_late = sum(ms > 1000.0 / args.rate for ms in rp.latency_ms)
        report.replay_fps_in = round(rp.frames_in / rp.wall_s, 1) if rp.wall_s else 0.0
        report.replay_stages_ms = _rounded(rp.analysis.stage_stats())
        report.replay_steal_pct = rp.steal_pct
        report.replay_wait = f"poll {rp.poll_ms:g} ms" if rp.poll_ms else "sleep"
        stalls = without_host_stalls(rp.due_ms, rp.start_ms, rp.busy_ms, rp.cpu_ms, rp.switched)
        report.replay_host_stalls = {"stalled_ms": stalls.stalled_ms, "longest_ms": stalls.longest_ms,
                                     "frames": stalls.frames}
        report.latency_without_host_stalls_ms = percentiles(stalls.latency_ms)
        report.replay_late_without_host_stalls = sum(ms > 1000.0 / args.rate for ms in stalls.latency_ms)
    return report
