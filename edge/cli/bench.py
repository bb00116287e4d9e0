"""`microexpr bench FOOTAGE|--synth`: frames per second, per-stage and end-to-end latency,
memory, and (with --compare mediapipe) the ratio to MediaPipe FaceMesh on the same frames."""

from __future__ import annotations

import argparse
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

from edge.bench.footage import Footage, decode, synth_clip
from edge.bench.measure import BLOCK, MediaPipeMesh, Pass, realtime, scaling, throughput
from edge.bench.report import BenchReport, machine, os_threads, peak_rss_mb, percentiles
from edge.bench.stalls import without_host_stalls
from edge.config import Config, load_config
from edge.errors import InputError
from edge.loop.frames import wait_budget_s
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
    p.add_argument("--scaling-rounds", type=int, default=1, metavar="N",
                   help="also N pairs of passes on one core then on every usable core, alternating (0: none)")
    p.add_argument("--loop", choices=["serial", "pipelined"], help="the per-frame loop (default: vision.loop)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if (args.footage is None) == (not args.synth):
        raise InputError("bench: give either a FOOTAGE file or --synth")
    if args.rate is not None and not 0 < args.rate <= 1000:
        raise InputError(f"--rate: must be between 0 and 1000 fps, got {args.rate:g}")
    if args.seconds is not None and not 0 < args.seconds <= 3600:
        raise InputError(f"--seconds: must be between 0 and 3600, got {args.seconds:g}")
    if not 0 <= args.scaling_rounds <= 50:
        raise InputError(f"--scaling-rounds: must be between 0 and 50, got {args.scaling_rounds}")
    cfg = load_config(args.config)
    loop = args.loop or cfg.vision.loop
    switch = cfg.vision.gil_switch_ms
    path = synth_clip() if args.synth else args.footage
    footage = decode(path)
    pipeline = FacePipeline.from_config(cfg.vision)
    notes: list[str] = []
    new_spotter = _spotter_factory(cfg, pipeline, notes)
    mediapipe = MediaPipeMesh() if args.compare == "mediapipe" else None

    _warm_up(footage.frames, pipeline, mediapipe)
    count = round(args.seconds * footage.fps) if args.seconds else len(footage.frames)
    tp = throughput(footage.frames, count, footage.period_ns, pipeline, new_spotter(), mediapipe, footage.name,
                    loop, switch)
    if mediapipe is not None:
        mediapipe.close()
        notes.append(f"ours and MediaPipe took alternate turns of {BLOCK} frames on the same {count} frames")
    rp: Pass | None = None
    if args.rate is not None:
        pipeline.reset()
        replay_count = round((args.seconds or DEFAULT_REPLAY_S) * args.rate)
        rp = realtime(footage.frames, args.rate, replay_count, cfg.source.queue_frames, pipeline, new_spotter(),
                      footage.name, wait_budget_s(cfg.source.wait, args.rate, loop), loop, switch)
    report = _report(footage, tp, rp, pipeline, args, notes)
    if args.scaling_rounds:
        sc = scaling(footage.frames, count, footage.period_ns, pipeline, new_spotter, args.scaling_rounds,
                     footage.name, loop, switch)
        report.scaling = sc.summary()
        notes.append(f"scaling: {args.scaling_rounds} pair(s) of passes, one core (cpu {min(os.sched_getaffinity(0))}) "
                     "then every usable core, without MediaPipe")
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
    report.loop, report.workers, report.cores = tp.loop, tp.workers, tp.cores
    report.cpu_ms_per_frame = round(tp.cpu_ms_per_frame, 3)
    report.frame_ms = percentiles(tp.frame_ms)
    if tp.stage_cpu_ms:
        report.stages_cpu_ms = {k: round(sum(v) / len(v), 3) for k, v in tp.stage_cpu_ms.items()}
        report.stages_busy_ms = {k: round(sum(v) / len(v), 3) for k, v in tp.stage_wall_ms.items()}
        report.limiting_stage = max(report.stages_busy_ms, key=report.stages_busy_ms.__getitem__)
    else:
        report.limiting_stage = "frame (serial: every stage on one thread)"
    if rp is not None:
        report.rate = args.rate
        report.dropped = rp.dropped
        report.replay_frames = rp.analysis.frames
        report.replay_frames_in = rp.frames_in
        # Serial: due -> the loop asks for the next frame (what the host-stall replay below models);
        # pipelined: due -> its last stage finished it (the loop asks for the next frame long before).
        lat = rp.latency_ms if rp.workers < 2 else rp.done_latency_ms
        report.latency_ms = percentiles(lat)
        report.replay_late = sum(ms > 1000.0 / args.rate for ms in lat)
        report.replay_cpu_ms_per_frame = round(rp.cpu_ms_per_frame, 3)
        report.replay_fps_in = round(rp.frames_in / rp.wall_s, 1) if rp.wall_s else 0.0
        report.replay_stages_ms = _rounded(rp.analysis.stage_stats())
        report.replay_steal_pct = rp.steal_pct
        report.replay_wait = f"poll {rp.poll_ms:g} ms" if rp.poll_ms else "sleep"
        if rp.loop == "serial" or rp.workers < 2:
            stalls = without_host_stalls(rp.due_ms, rp.start_ms, rp.busy_ms, rp.cpu_ms, rp.switched)
            report.replay_host_stalls = {"stalled_ms": stalls.stalled_ms, "longest_ms": stalls.longest_ms,
                                         "frames": stalls.frames}
            report.latency_without_host_stalls_ms = percentiles(stalls.latency_ms)
            report.replay_late_without_host_stalls = sum(ms > 1000.0 / args.rate for ms in stalls.latency_ms)
        else:
            # Stage threads: a stage's wall time on a frame beyond its CPU time, with no context switch.
            gaps = [g for g in rp.stage_stalls if g >= 0.5]
            report.replay_host_stalls = {"stalled_ms": round(sum(gaps), 3), "longest_ms": round(max(gaps, default=0.0), 3),
                                         "frames": len(gaps)}
            notes.append("pipelined replay: host stalls are summed over the stage threads; the latency without "
                         "them is computed for the serial loop only")
    return report
