"""CPU time of each step of a frame, on the calling thread's CPU clock: the input of the Pi 5 budget.

    taskset -c 1 python -m edge.bench.steps [FOOTAGE]     # default: the bench's generated clip

Runs the pipelined loop's steps one after the other on one thread (so each step's CPU time is
its own, not a neighbour's) and prints milliseconds per frame of: the landmark model's
`invoke()`, the rest of tracking (crop, input scaling, projection, region; detection when lost),
the emotion CNN on its schedule, the spotter's optical flow, pose, and `Spotter.update` (with the
CNN when the spotter asks for it). The thread CPU clock excludes time the thread waited or was
preempted, so a busy host inflates these numbers far less than wall times.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.analysis import make_spotter
from edge.bench.footage import decode, looped, synth_clip
from edge.config import load_config
from edge.loop.frames import Inline, SpotContext
from edge.vision.pipeline import FacePipeline

WARMUP = 30


class _TimedInvoke:
    """The landmark interpreter with its `invoke()` timed on the thread CPU clock."""

    def __init__(self, interpreter: Any) -> None:
        self._it = interpreter
        self.ns = 0

    def invoke(self) -> None:
        t = time.thread_time_ns()
        self._it.invoke()
        self.ns += time.thread_time_ns() - t

    def __getattr__(self, name: str) -> Any:
        return getattr(self._it, name)


@dataclass
class Steps:
    footage: str
    frames: int = 0
    ns: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("landmark_invoke", "track_rest", "emotion", "flow", "pose", "spotter_update"), 0))

    def per_frame_ms(self) -> dict[str, float]:
        out = {k: round(v / max(1, self.frames) / 1e6, 3) for k, v in self.ns.items()}
        out["track_stage"] = round(out["landmark_invoke"] + out["track_rest"], 3)
        out["spot_stage"] = round(out["emotion"] + out["flow"] + out["pose"] + out["spotter_update"], 3)
        return out


def measure(path: Path, count: int = 1200) -> Steps:
    """Every step of `count` frames of `path` (looped), timed on this thread's CPU clock."""
    cfg = load_config(environ={})
    footage = decode(path)
    pipe = FacePipeline.from_config(cfg.vision)
    spotter = make_spotter(cfg, pipe)
    side = Inline()
    spotter.set_context(pipeline=SpotContext(pipe, side))
    timed = _TimedInvoke(pipe.landmarker._it)
    pipe.landmarker._it = timed
    frames = list(looped(footage.frames, count, footage.period_ns))
    for f in frames[:WARMUP]:
        pipe.process(f)
    pipe.reset()
    out = Steps(footage.name)
    clock = time.thread_time_ns
    for f in frames:
        t0, inv0 = clock(), timed.ns
        res = pipe.track(f)
        t1 = clock()
        out.ns["landmark_invoke"] += timed.ns - inv0
        out.ns["track_rest"] += t1 - t0 - (timed.ns - inv0)
        early = pipe.start_emotion(f, side)
        t2 = clock()
        spotter.prepare(f)
        t3 = clock()
        pipe.finish(f, res, early)
        t4 = clock()
        spotter.update(f, res)
        t5 = clock()
        out.ns["emotion"] += t2 - t1
        out.ns["flow"] += t3 - t2
        out.ns["pose"] += t4 - t3  # with the CNN's join and the schedule's bookkeeping
        out.ns["spotter_update"] += t5 - t4
        out.frames += 1
    pipe.close()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m edge.bench.steps", description=__doc__.split("\n\n")[0])
    p.add_argument("footage", nargs="?", type=Path, help="video file (default: the bench's generated clip)")
    p.add_argument("--frames", type=int, default=1200)
    args = p.parse_args(argv)
    steps = measure(args.footage or synth_clip(), args.frames)
    print(json.dumps({"footage": steps.footage, "frames": steps.frames, "cpu_ms_per_frame": steps.per_frame_ms()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
