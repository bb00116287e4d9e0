"""The analysis loop per frame: serial (the reference) or pipelined over the cores.

Both take frames in with `put`, hand back `Done` records (the frame, its face result, the
events the spotter finished on it) strictly in frame order, and finish every frame handed over
on `drain`/`close`. `vision.loop` chooses:

* `serial`: prepare -> FacePipeline.process -> Spotter.update on the caller's thread (with the
  pipeline's side thread for the flow and the emotion CNN beside the landmark model).
* `pipelined`: two stages on threads of their own (edge.loop.stages). Stage `track` runs
  detection when lost and the landmark model, tracking from its own last output (it never waits
  for the spotter). Stage `spot` runs, in frame order and exactly as the serial loop would, the
  emotion CNN when due (from the previous frame's landmarks), the spotter's optical flow (from
  the previous frame's landmarks), head pose, and `Spotter.update`. So the spotter sees the very
  same inputs, and the events are the serial loop's; only the work overlaps across frames.

With one usable core (`os.sched_getaffinity`, so `taskset` and systemd's CPUAffinity= count) the
pipelined loop runs its stages inline: on one core threads only add switches. With stage threads,
OpenCV runs single-threaded while the loop is open (its warps and the optical flow would otherwise
split across a pool of their own that contends with the stages for the same cores).
"""

from __future__ import annotations

import logging
import sys
import time
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import cv2

from edge.events.record import Event
from edge.loop.stages import OrderedStages, Slot, Stage
from edge.sources.capture import poll_budget_s
from edge.sources.frame import Frame
from edge.spotting.reading import Reading
from edge.vision.pipeline import usable_cores

log = logging.getLogger(__name__)

MODES = ("serial", "pipelined")
DEPTH_PER_STAGE = 2  # frames in flight per stage: enough to keep each busy, few enough to keep latency short


@dataclass(slots=True)
class Done:
    """One frame finished: what the caller feeds sinks, clips and the outbox with."""

    frame: Frame
    res: Any  # FaceResult (or a stand-in)
    events: list[Event]
    spotting_ms: float = 0.0
    done_ns: int = 0  # monotonic, when its last stage finished it
    put_ns: int = 0  # monotonic, when it was handed to the loop
    stage_cpu_ms: dict[str, float] = field(default_factory=dict)  # per stage thread (pipelined, when measured)
    stage_wall_ms: dict[str, float] = field(default_factory=dict)
    stage_switched: dict[str, bool] = field(default_factory=dict)
    reading: Reading | None = None  # the spotter's score and gate flags on this frame (spotting.reading)


class Spotter(Protocol):
    def update(self, frame: Frame, res: Any) -> list[Event]: ...
    def flush(self) -> list[Event]: ...


class FrameLoop(Protocol):
    mode: str
    workers: int

    def put(self, frame: Frame) -> list[Done]: ...
    def take(self) -> list[Done]: ...
    def drain(self) -> list[Done]: ...
    def close(self) -> list[Done]: ...
    def check(self) -> None: ...
    def abort(self) -> None: ...
    def oldest_pending_s(self) -> float: ...


class Inline(Executor):
    """An executor that runs the call at once on the caller's thread: the spotting stage's stand-in
    for the pipeline's side thread, so the same code paths (and so the same numbers) run."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        f: Future[Any] = Future()
        try:
            f.set_result(fn(*args, **kwargs))
        except BaseException as e:
            f.set_exception(e)
        return f


class SpotContext:
    """What the spotter asks of its pipeline (`set_context(pipeline=...)`), answered on the spotting
    stage: the previous frame's landmarks in spotting order, the flow's executor, the CNN on demand."""

    def __init__(self, pipeline: Any, side: Executor | None) -> None:
        self._pipeline = pipeline
        self.side = side

    @property
    def previous_landmarks(self) -> Any:
        return self._pipeline.previous_landmarks

    def classify_emotion(self, frame: Frame, res: Any) -> Any:
        return self._pipeline.classify_emotion(frame, res)


def spot_view(frame: Frame) -> Frame:
    """The frame as the spotter sees it: the camera's luma plane where the source gave one (its flow
    crops grey straight from it, no RGB round trip), else the frame itself."""
    return frame if frame.luma is None else Frame(frame.luma, frame.t_ns, frame.index)


class SerialLoop:
    """The reference: every step of a frame on the caller's thread, one frame after the other."""

    mode = "serial"

    def __init__(self, pipeline: Any, spotter: Spotter | None) -> None:
        self.pipeline = pipeline
        self.spotter = spotter
        self.workers = 1

    def put(self, frame: Frame) -> list[Done]:
        put_ns = time.monotonic_ns()
        spotter = self.spotter
        view = spot_view(frame)
        if spotter is not None and hasattr(spotter, "prepare"):
            spotter.prepare(view)  # its optical flow starts beside the landmark model
        res = self.pipeline.process(frame)
        events: list[Event] = []
        ms = 0.0
        if spotter is not None:
            t0 = time.perf_counter_ns()
            events = spotter.update(view, res)
            ms = (time.perf_counter_ns() - t0) / 1e6
        return [Done(frame, res, events, ms, time.monotonic_ns(), put_ns, reading=getattr(spotter, "reading", None))]

    def take(self) -> list[Done]:
        return []

    def drain(self) -> list[Done]:
        return []

    def close(self) -> list[Done]:
        return []

    def check(self) -> None:
        """Failures are raised by `put` itself."""

    def abort(self) -> None:
        """Nothing runs beside the caller: nothing to stop."""

    def oldest_pending_s(self) -> float:
        return 0.0


@dataclass(slots=True)
class _Item:
    frame: Frame
    res: Any = None
    events: list[Event] = field(default_factory=list)
    spotting_ms: float = 0.0
    done_ns: int = 0
    put_ns: int = 0
    reading: Reading | None = None


class PipelinedLoop:
    """Tracking on one thread, emotion + flow + pose + spotting on another; frames in order."""

    mode = "pipelined"

    def __init__(self, pipeline: Any, spotter: Spotter | None, workers: int | None = None,
                 measure: bool = False, gil_switch_ms: float = 0.0) -> None:
        for need in ("track", "start_emotion", "finish"):
            if not hasattr(pipeline, need):
                raise TypeError(f"the pipelined loop needs a pipeline with {need}(); use vision.loop = 'serial'")
        self.pipeline = pipeline
        self.spotter = spotter
        self.workers = usable_cores() if workers is None else max(1, workers)
        # The spotting stage replays what the pipeline's side thread does in the serial loop, inline:
        # with no side thread there, none here either (the flow and the CNN then run from this frame's landmarks).
        self._side: Executor | None = Inline() if getattr(pipeline, "side", None) is not None else None
        if spotter is not None and hasattr(spotter, "set_context"):
            spotter.set_context(pipeline=SpotContext(pipeline, self._side))
        self._switch_before: float | None = None
        self._cv_threads_before: int | None = None
        self._stages: OrderedStages | None = None
        if self.workers > 1:
            # The stages are the parallelism: OpenCV's own pool would only contend with them for the
            # cores (on this 2-vCPU VM it cost 0.2-0.4 ms of CPU a frame, docs/benchmarks.md session 13).
            self._cv_threads_before = cv2.getNumThreads()
            cv2.setNumThreads(1)
            if gil_switch_ms > 0:
                # Both stages run Python between their GIL-free calls; a short switch interval keeps
                # one from waiting out the other's numpy stretch (as with the side thread).
                self._switch_before = sys.getswitchinterval()
                sys.setswitchinterval(min(self._switch_before, gil_switch_ms / 1000.0))
            stages = [Stage("track", self._track), Stage("spot", self._spot)]
            self._stages = OrderedStages(stages, depth=DEPTH_PER_STAGE * len(stages), name="loop", measure=measure)
        log.info("pipelined loop on %d usable cores: %s", self.workers,
                 "stages track | spot on threads" if self._stages else "one core, stages inline")

    # -- the stages ---------------------------------------------------------------------

    def _track(self, item: _Item) -> _Item:
        item.res = self.pipeline.track(item.frame)
        return item

    def _spot(self, item: _Item) -> _Item:
        frame, spotter = item.frame, self.spotter
        view = spot_view(frame)
        early = self.pipeline.start_emotion(frame, self._side)
        if spotter is not None and hasattr(spotter, "prepare"):
            spotter.prepare(view)
        res = self.pipeline.finish(frame, item.res, early)
        if spotter is not None:
            t0 = time.perf_counter_ns()
            item.events = spotter.update(view, res)
            item.spotting_ms = (time.perf_counter_ns() - t0) / 1e6
            item.reading = getattr(spotter, "reading", None)
        item.done_ns = time.monotonic_ns()
        return item

    # -- the caller's side ------------------------------------------------------------------

    def put(self, frame: Frame) -> list[Done]:
        if self._stages is None:
            return [self._done_inline(self._spot(self._track(_Item(frame, put_ns=time.monotonic_ns()))))]
        return [self._done(s) for s in self._stages.put(_Item(frame))]

    def take(self) -> list[Done]:
        """The frames finished by now, without waiting (the caller has no new frame to hand over)."""
        return [self._done(s) for s in self._stages.take()] if self._stages is not None else []

    def drain(self) -> list[Done]:
        return [self._done(s) for s in self._stages.drain()] if self._stages is not None else []

    def close(self) -> list[Done]:
        """Finish every frame handed over, stop the threads, put the GIL switch interval back.

        A stage failure met while finishing is raised after the frames before it are returned: by
        the next call (`take`), so the caller gets those frames first."""
        if self._stages is None:
            return []
        try:
            return [self._done(s) for s in self._stages.close()]
        finally:
            self._restore()

    def check(self) -> None:
        """Raise a stage failure not yet raised (after `close` returned the frames before it)."""
        if self._stages is not None:
            self._stages.take()

    def abort(self) -> None:
        """Stop the stage threads without finishing the frames in them (the caller is crashing)."""
        if self._stages is not None:
            self._stages.close(drain=False)
        self._restore()

    def _restore(self) -> None:
        """The process-wide settings the loop changed, as they were."""
        if self._switch_before is not None:
            sys.setswitchinterval(self._switch_before)
            self._switch_before = None
        if self._cv_threads_before is not None:
            cv2.setNumThreads(self._cv_threads_before)
            self._cv_threads_before = None

    def oldest_pending_s(self) -> float:
        return self._stages.oldest_pending_s() if self._stages is not None else 0.0

    @property
    def in_flight(self) -> int:
        return self._stages.in_flight if self._stages is not None else 0

    def _done(self, slot: Slot) -> Done:
        item: _Item = slot.value
        d = Done(item.frame, item.res, item.events, item.spotting_ms, item.done_ns, slot.put_ns, reading=item.reading)
        if slot.cpu_ns:
            names = [s.name for s in self._stages.stages] if self._stages is not None else []
            d.stage_cpu_ms = {n: ns / 1e6 for n, ns in zip(names, slot.cpu_ns)}
            d.stage_wall_ms = {n: ns / 1e6 for n, ns in zip(names, slot.wall_ns)}
            d.stage_switched = dict(zip(names, slot.switched))
        return d

    @staticmethod
    def _done_inline(item: _Item) -> Done:
        return Done(item.frame, item.res, item.events, item.spotting_ms, item.done_ns, item.put_ns,
                    reading=item.reading)


def wait_budget_s(wait: str, fps: float, mode: str) -> float:
    """How long the caller spins for a frame before blocking (`source.wait`). With the pipelined loop on
    2+ cores `auto` blocks: the stage threads keep the cores busy, and a spinning caller would take
    one of them (and the GIL, turn by turn) from the stages. An explicit 'poll' is honoured."""
    if wait == "auto" and mode == "pipelined" and usable_cores() > 1:
        return 0.0
    return poll_budget_s(wait, fps)


def make_loop(mode: str, pipeline: Any, spotter: Spotter | None, measure: bool = False,
              gil_switch_ms: float = 0.0, workers: int | None = None) -> SerialLoop | PipelinedLoop:
    """The loop `vision.loop` names."""
    if mode == "serial":
        return SerialLoop(pipeline, spotter)
    if mode == "pipelined":
        return PipelinedLoop(pipeline, spotter, workers=workers, measure=measure, gil_switch_ms=gil_switch_ms)
    raise ValueError(f"vision.loop: must be one of {', '.join(MODES)}, got {mode!r}")
