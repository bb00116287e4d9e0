"""The two timed passes: as fast as possible (optionally interleaved with MediaPipe), and a
real-time replay through the capture thread and its bounded queue.

Both feed frames to `edge.analysis.analyse` (the loop of `replay` and `eval`; the
unit's loop takes the same steps: pipeline, spotter, sinks) through a generator that timestamps each frame as it is handed over and again
when the loop asks for the next one: the difference is the frame's whole
processing (pipeline, spotter, sinks), with no change to the loop itself.
"""

from __future__ import annotations

import logging
import os
import resource
import statistics
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from edge.analysis import DRAIN, Analysis, analyse
from edge.loop.frames import Done
from edge.bench.footage import looped
from edge.bench.report import cpu_ticks, steal_pct
from edge.errors import InputError
from edge.sources.base import FrameSource
from edge.sources.capture import Capture
from edge.sources.frame import Frame
from edge.vision.pipeline import FacePipeline, usable_cores

log = logging.getLogger(__name__)

BLOCK = 10  # frames per turn when ours and MediaPipe alternate: short turns share load swings fairly
WAIT_S = 1.0


@dataclass
class Pass:
    """One timed pass: the analysis summary plus per-frame times."""

    analysis: Analysis
    busy_ms: list[float] = field(default_factory=list)  # per frame: handed over -> next frame asked for
    latency_ms: list[float] = field(default_factory=list)  # per frame: due time -> processing done
    mediapipe_s: float = 0.0
    mediapipe_cpu_s: float = 0.0  # the process's CPU time during MediaPipe's turns (taken out of cpu_s)
    mediapipe_frames: int = 0
    mediapipe_faces: int = 0
    dropped: int = 0
    frames_in: int = 0
    wall_s: float = 0.0
    steal_pct: float = 0.0  # CPU time the hypervisor took while the pass ran
    poll_ms: float = 0.0  # realtime pass: how long the loop spun for a frame before blocking (0 = it slept)
    due_ms: list[float] = field(default_factory=list)  # realtime pass, per frame: due time (monotonic ms)
    start_ms: list[float] = field(default_factory=list)  # realtime pass, per frame: handed over (monotonic ms)
    cpu_ms: list[float] = field(default_factory=list)  # realtime pass, per frame: the loop thread's own CPU time
    switched: list[bool] = field(default_factory=list)  # realtime pass, per frame: the kernel switched the thread out
    frame_ms: list[float] = field(default_factory=list)  # per frame: handed to the loop -> done (all its stages)
    done_latency_ms: list[float] = field(default_factory=list)  # realtime pass, per frame: due -> done
    cpu_s: float = 0.0  # the process's CPU time over the pass, every thread
    stage_cpu_ms: dict[str, list[float]] = field(default_factory=dict)  # pipelined: per stage thread, per frame
    stage_wall_ms: dict[str, list[float]] = field(default_factory=dict)
    stage_stalls: list[float] = field(default_factory=list)  # pipelined: per stage and frame, wall - CPU when not switched out
    loop: str = "serial"
    workers: int = 1
    cores: int = 0  # usable cores during the pass

    def on_done(self, d: Done) -> None:
        """Each finished frame: its time through the loop, and per stage thread its CPU and wall time."""
        self.frame_ms.append((d.done_ns - d.put_ns) / 1e6)
        for name, ms in d.stage_cpu_ms.items():
            wall = d.stage_wall_ms[name]
            self.stage_cpu_ms.setdefault(name, []).append(ms)
            self.stage_wall_ms.setdefault(name, []).append(wall)
            if not d.stage_switched.get(name, True):
                self.stage_stalls.append(wall - ms)

    def on_done_due(self, d: Done) -> None:
        """A replayed frame finished: `on_done`, and its latency from its due time (its stamp)."""
        self.on_done(d)
        self.done_latency_ms.append((d.done_ns - d.frame.t_ns) / 1e6)

    @property
    def cpu_ms_per_frame(self) -> float:
        """The process's CPU time (all threads) per frame: comparable across machines, runs and loops."""
        n = self.analysis.frames
        return 1000.0 * self.cpu_s / n if n else 0.0

    @property
    def fps(self) -> float:
        """Frames per second of the pass's wall time, MediaPipe's turns excluded (with the pipelined
        loop a frame's own time overlaps the next ones', so only the wall clock counts them right)."""
        busy = self.wall_s - self.mediapipe_s
        return self.analysis.frames / busy if busy > 0 else 0.0

    @property
    def mediapipe_fps(self) -> float:
        return self.mediapipe_frames / self.mediapipe_s if self.mediapipe_s > 0 else 0.0


class MediaPipeMesh:
    """MediaPipe's own FaceMesh graph in tracking mode: the peer the pipeline is measured against."""

    def __init__(self) -> None:
        try:
            import mediapipe as mp
        except ImportError as e:
            raise InputError(f"--compare mediapipe: mediapipe is not installed ({e}); "
                             "pip install --no-deps mediapipe==0.10.14") from None
        self.version = getattr(mp, "__version__", "")
        self._mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=False, max_num_faces=1, refine_landmarks=False,
            min_detection_confidence=0.5, min_tracking_confidence=0.5,
        )

    def run(self, frames: Iterable[Frame]) -> tuple[int, int, float]:
        """(frames, faces found, seconds) for these frames in order."""
        n = faces = 0
        t0 = time.perf_counter()
        for f in frames:
            r = self._mesh.process(f.image)
            faces += r.multi_face_landmarks is not None
            n += 1
        return n, faces, time.perf_counter() - t0

    def close(self) -> None:
        self._mesh.close()


def _timed(frames: Iterable[Frame], p: Pass, between: Callable[[int], None] | None = None,
           due_ns: bool = False) -> Iterator[Frame | object]:
    clock = time.monotonic_ns
    for i, frame in enumerate(frames):
        if between is not None and i % BLOCK == 0:
            yield DRAIN  # our frames handed over are finished before MediaPipe's turn: no overlap
            between(i)
        if due_ns:
            c0, s0 = time.thread_time_ns(), _switches()
        t0 = clock()
        yield frame
        t1 = clock()
        p.busy_ms.append((t1 - t0) / 1e6)
        p.latency_ms.append((t1 - (frame.t_ns if due_ns else t0)) / 1e6)
        if due_ns:
            p.cpu_ms.append((time.thread_time_ns() - c0) / 1e6)
            p.switched.append(_switches() != s0)
            p.due_ms.append(frame.t_ns / 1e6)
            p.start_ms.append(t0 / 1e6)


def _switches() -> int:
    """Context switches of the calling thread so far, voluntary (a lock, the GIL, I/O) and involuntary."""
    r = resource.getrusage(resource.RUSAGE_THREAD)
    return r.ru_nvcsw + r.ru_nivcsw


def throughput(frames: Sequence[Frame], count: int, period_ns: int, pipeline: FacePipeline, spotter: object | None,
               mediapipe: MediaPipeMesh | None = None, name: str = "", loop: str = "serial",
               gil_switch_ms: float = 0.0) -> Pass:
    """`count` frames as fast as they go; MediaPipe, if given, takes alternate turns of BLOCK
    frames on the very same frames, so both see the same load on a shared machine."""
    stream = list(looped(frames, count, period_ns))
    holder: list[Pass] = []

    def mediapipe_turn(start: int) -> None:
        c = time.process_time()
        n, faces, s = mediapipe.run(stream[start:start + BLOCK])
        p = holder[0]
        p.mediapipe_cpu_s += time.process_time() - c
        p.mediapipe_frames += n
        p.mediapipe_faces += faces
        p.mediapipe_s += s

    p = Pass(Analysis(source=name), cores=usable_cores())
    holder.append(p)
    t0, c0 = time.perf_counter(), time.process_time()
    p.analysis = analyse(_timed(stream, p, mediapipe_turn if mediapipe else None), pipeline, spotter,
                         source_name=name, loop=loop, on_done=p.on_done, measure=True, gil_switch_ms=gil_switch_ms)
    p.wall_s = time.perf_counter() - t0
    p.cpu_s = time.process_time() - c0 - p.mediapipe_cpu_s
    p.frames_in = count
    p.loop, p.workers = p.analysis.loop, p.analysis.workers
    return p


class PacedReplay(FrameSource):
    """Decoded frames released at `rate` fps on the wall clock, stamped with their due time
    (as a camera stamps the sensor time), for `count` frames."""

    def __init__(self, frames: Sequence[Frame], rate: float, count: int, name: str = "replay") -> None:
        self._frames = frames
        self._period_ns = 1e9 / rate
        self._count = count
        self.name = name
        self.nominal_fps = rate
        self.frame_count = count

    def frames(self) -> Iterator[Frame]:
        n = len(self._frames)
        start = time.monotonic_ns() + 20_000_000
        for i in range(self._count):
            due = start + int(i * self._period_ns)
            delay = due - time.monotonic_ns()
            if delay > 0:
                time.sleep(delay / 1e9)
            yield Frame(self._frames[i % n].image, due, i)


def realtime(frames: Sequence[Frame], rate: float, count: int, queue_frames: int, pipeline: FacePipeline,
             spotter: object | None, name: str = "", poll_s: float = 0.0, loop: str = "serial",
             gil_switch_ms: float = 0.0) -> Pass:
    """Replay at camera rate through the unit's capture thread and bounded queue (dropping
    the oldest frame when full, as with a live camera, and waiting for frames as the unit's
    `source.wait` says); latency runs from each frame's due time."""
    capture = Capture(lambda: PacedReplay(frames, rate, count, name), queue_frames, live=False,
                      drop_when_full=True, poll_s=poll_s)
    p = Pass(Analysis(source=name), poll_ms=round(poll_s * 1e3, 3))

    def queued() -> Iterator[Frame]:
        while True:
            frame = capture.get(WAIT_S)
            if frame is not None:
                yield frame
            elif capture.ended:
                return

    t0, ticks, c0 = time.perf_counter(), cpu_ticks(), time.process_time()
    capture.start()
    try:
        p.analysis = analyse(_timed(queued(), p, due_ns=True), pipeline, spotter, source_name=name, loop=loop,
                             on_done=p.on_done_due,
                             measure=True, gil_switch_ms=gil_switch_ms)
    finally:
        capture.stop()
    p.cpu_s = time.process_time() - c0
    p.loop, p.workers, p.cores = p.analysis.loop, p.analysis.workers, usable_cores()
    p.wall_s = time.perf_counter() - t0
    p.steal_pct = steal_pct(ticks, cpu_ticks())
    stats = capture.stats()
    if capture.error is not None:
        raise InputError(f"replay failed: {capture.error}")
    p.dropped, p.frames_in = stats.frames_dropped, stats.frames_in  # frames_in counts dropped ones too
    return p


def restrict_cores(cpus: set[int]) -> set[int]:
    """Pin every thread of this process (interpreter pools included) to `cpus`; the previous set is
    returned for `restrict_cores` to put back. Threads started later inherit their creator's set."""
    before = os.sched_getaffinity(0)
    for tid in _threads():
        try:
            os.sched_setaffinity(tid, cpus)
        except OSError:  # a thread that ended meanwhile
            pass
    return before


def _threads() -> list[int]:
    try:
        return [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:
        return [0]


@dataclass
class Scaling:
    """Throughput on one core and on every usable core, passes alternating (the host's load swings
    reach both alike), medians reported."""

    cores: int
    one_core_fps: list[float] = field(default_factory=list)
    all_cores_fps: list[float] = field(default_factory=list)
    one_core_cpu_ms: list[float] = field(default_factory=list)
    all_cores_cpu_ms: list[float] = field(default_factory=list)

    @staticmethod
    def _median(v: list[float]) -> float:
        return float(statistics.median(v)) if v else 0.0

    def summary(self) -> dict[str, float]:
        one, every = self._median(self.one_core_fps), self._median(self.all_cores_fps)
        return {"cores": self.cores, "rounds": len(self.one_core_fps), "one_core_fps": round(one, 1),
                "all_cores_fps": round(every, 1), "speedup": round(every / one, 3) if one else 0.0,
                "one_core_cpu_ms_per_frame": round(self._median(self.one_core_cpu_ms), 3),
                "all_cores_cpu_ms_per_frame": round(self._median(self.all_cores_cpu_ms), 3),
                "one_core_runs_fps": [round(x, 1) for x in self.one_core_fps],
                "all_cores_runs_fps": [round(x, 1) for x in self.all_cores_fps]}


def scaling(frames: Sequence[Frame], count: int, period_ns: int, pipeline: FacePipeline,
            new_spotter: Callable[[], object | None], rounds: int, name: str = "", loop: str = "pipelined",
            gil_switch_ms: float = 0.0) -> Scaling:
    """`rounds` pairs of throughput passes, one core then every usable core, in one process: the
    loop's workers follow the affinity, as under `taskset -c 0` against the whole machine."""
    allowed = os.sched_getaffinity(0)
    out = Scaling(cores=len(allowed))
    one = {min(allowed)}
    for _ in range(rounds):
        for cpus, fps, cpu in ((one, out.one_core_fps, out.one_core_cpu_ms),
                               (allowed, out.all_cores_fps, out.all_cores_cpu_ms)):
            before = restrict_cores(cpus)
            try:
                pipeline.reset()
                p = throughput(frames, count, period_ns, pipeline, new_spotter(), None, name, loop, gil_switch_ms)
            finally:
                restrict_cores(before)
            fps.append(p.fps)
            cpu.append(p.cpu_ms_per_frame)
    return out
