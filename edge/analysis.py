"""The analysis loop: frames -> face pipeline -> spotter -> sinks. Replay, eval, bench and
the live unit all run this same code path."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge import __version__
from edge.config import Config
from edge.events.record import Event
from edge.loop.frames import Done, make_loop
from edge.sinks import CollectSink, Sink
from edge.sources.frame import Frame
from edge.spotting.rejections import Rejection
from edge.vision.pipeline import STAGES, FacePipeline

log = logging.getLogger(__name__)

DRAIN = object()  # yielded by a frame iterable: finish every frame handed over before the next one (bench turns)


@dataclass
class Analysis:
    """What a run did, for the summary, eval and bench."""

    source: str
    frames: int = 0
    faces: int = 0
    detections: int = 0
    wall_s: float = 0.0
    media_s: float = 0.0
    runtime: str = ""
    threads: dict[str, int] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    stage_ms: dict[str, list[float]] = field(default_factory=dict)
    loop: str = "serial"  # vision.loop that ran
    workers: int = 1  # cores the loop spread over
    rejections: list[Rejection] = field(default_factory=list)  # the spotter's, for explaining misses

    @property
    def fps(self) -> float:
        return self.frames / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def face_rate(self) -> float:
        return self.faces / self.frames if self.frames else 0.0

    def stage_stats(self) -> dict[str, dict[str, float]]:
        """Per-stage milliseconds per frame (p50, p99, mean), over frames where it ran."""
        out = {}
        for stage, values in self.stage_ms.items():
            if values:
                a = np.asarray(values)
                out[stage] = {"p50": float(np.percentile(a, 50)), "p99": float(np.percentile(a, 99)),
                              "mean": float(a.mean()), "runs": len(values)}
        return out

    def summary(self) -> str:
        s = self.stage_stats()
        lm = s.get("landmarks", {}).get("mean", 0.0)
        sp = s.get("spotting", {}).get("mean", 0.0)
        micro = sum(e.type == "micro" for e in self.events)
        return (
            f"{self.source}: {self.frames} frames ({self.media_s:.1f} s of footage) in {self.wall_s:.1f} s, "
            f"{self.fps:.1f} fps on {self.runtime} (threads {self.threads}); face found on "
            f"{100 * self.face_rate:.1f}% of frames, detection ran {self.detections} times; "
            f"landmarks {lm:.2f} ms/frame, spotting {sp:.3f} ms/frame; "
            f"{len(self.events)} events ({micro} micro, {len(self.events) - micro} macro)."
        )


def analyse(
    frames: Iterable[Frame | object],
    pipeline: FacePipeline,
    spotter: object | None,
    sinks: Sequence[Sink] = (),
    source_name: str = "",
    loop: str = "serial",
    on_done: Callable[[Done], None] | None = None,
    measure: bool = False,
    gil_switch_ms: float = 0.0,
) -> Analysis:
    """Run every frame through the pipeline and spotter (`loop`: edge.loop.frames), feeding the sinks.

    Sinks are closed even when the source fails midway, so events found before a
    truncated file or a lost camera are kept; every frame handed to the loop is finished
    before the spotter is flushed. `on_done` sees each finished frame (the bench's clocks).
    """
    run = Analysis(source=source_name, runtime=f"{pipeline.runtime.name} {pipeline.runtime.version}",
                   threads=dict(pipeline.threads))
    run.stage_ms = {s: [] for s in (*STAGES, "spotting")}
    first_t = last_t = None
    start = time.perf_counter()
    frame_loop = make_loop(loop, pipeline, spotter, measure=measure, gil_switch_ms=gil_switch_ms)
    run.loop, run.workers = frame_loop.mode, frame_loop.workers

    def finished(done: list[Done]) -> None:
        nonlocal first_t, last_t
        for d in done:
            frame, res = d.frame, d.res
            run.frames += 1
            run.faces += res.face
            run.detections += res.detected
            for k, v in res.timings_ms.items():
                run.stage_ms[k].append(v)
            for sink in sinks:
                sink.on_result(frame, res)
            if d.reading is not None:
                for sink in sinks:
                    sink.on_reading(frame, d.reading)
            if spotter is not None:
                run.stage_ms["spotting"].append(d.spotting_ms)
                _emit(d.events, run, sinks, source_name)
            first_t = frame.t_ns if first_t is None else first_t
            last_t = frame.t_ns
            if on_done is not None:
                on_done(d)

    try:
        try:
            for frame in frames:
                finished(frame_loop.drain() if frame is DRAIN else frame_loop.put(frame))
        except BaseException:
            finished(frame_loop.close())  # every frame handed over, even when the source failed
            raise
        finished(frame_loop.close())
        frame_loop.check()  # a stage that failed on the last frames, after the frames before it
    finally:
        if spotter is not None:
            _emit(spotter.flush(), run, sinks, source_name)
            run.rejections = list(getattr(spotter, "rejections", ()))
        run.wall_s = time.perf_counter() - start
        if first_t is not None and last_t is not None and run.frames > 1:
            run.media_s = (last_t - first_t) / 1e9 * run.frames / (run.frames - 1)
        for sink in sinks:
            sink.close()
    return run


def _emit(events: list[Event], run: Analysis, sinks: Sequence[Sink], source_name: str) -> None:
    for e in events:
        if not e.video:
            e.video = source_name
        run.events.append(e)
        for sink in sinks:
            sink.on_event(e)


def make_spotter(cfg: Config, pipeline: FacePipeline) -> object:
    """The streaming spotter, told the versions it stamps on events."""
    from edge.spotting.spotter import Spotter

    spotter = Spotter(cfg.spotting)
    if hasattr(spotter, "set_context"):
        spotter.set_context(pipeline=pipeline, versions={"software": __version__, "models": pipeline.models_version})
    return spotter


def analyse_video(path: str | Path, cfg: Config, sinks: Sequence[Sink] = (),
                  pipeline: FacePipeline | None = None) -> Analysis:
    """The whole pipeline on one video file: what eval, the HIL suite and bench call."""
    from edge.sources.video import VideoFileSource

    pipeline = pipeline or FacePipeline.from_config(cfg.vision)
    pipeline.reset()
    spotter = make_spotter(cfg, pipeline)
    collect = CollectSink()
    with VideoFileSource(path, realtime=False) as src:
        return analyse(src.frames(), pipeline, spotter, [collect, *sinks], source_name=Path(path).name,
                       loop=cfg.vision.loop, gil_switch_ms=cfg.vision.gil_switch_ms)
