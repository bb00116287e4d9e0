"""The per-frame loops: the pipelined one hands back every frame once, in order, with the serial
loop's results, at shutdown and when a stage fails."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from dataclasses import dataclass, field

import cv2
import numpy as np
import pytest

from edge.loop.frames import PipelinedLoop, SerialLoop, make_loop
from edge.loop.stages import StageError
from edge.sources.frame import Frame


@dataclass
class Res:
    frame_index: int
    face: bool = True
    detected: bool = False
    landmarks: object = None
    emotion: object = None
    timings_ms: dict = field(default_factory=dict)


class Pipeline:
    """Stands in for FacePipeline's split steps; records which thread ran what, in which order."""

    def __init__(self, fail_track_at: int | None = None) -> None:
        self.side = object()  # as with vision.side_thread: the loop replays the side thread inline
        self.tracked: list[int] = []
        self.finished: list[int] = []
        self.threads: dict[str, set[str]] = {"track": set(), "finish": set()}
        self.fail_track_at = fail_track_at
        self._previous: int | None = None

    @property
    def previous_landmarks(self) -> int | None:
        return self._previous

    def track(self, frame: Frame) -> Res:
        self.threads["track"].add(threading.current_thread().name)
        if frame.index == self.fail_track_at:
            raise RuntimeError(f"interpreter failed on frame {frame.index}")
        self.tracked.append(frame.index)
        return Res(frame.index)

    def start_emotion(self, frame: Frame, executor) -> Future | None:
        return executor.submit(lambda: ("emotion", self._previous)) if executor is not None else None

    def finish(self, frame: Frame, res: Res, early: Future | None) -> Res:
        self.threads["finish"].add(threading.current_thread().name)
        res.emotion = early.result() if early is not None else None
        self.finished.append(frame.index)
        self._previous = frame.index
        return res

    def process(self, frame: Frame) -> Res:
        return self.finish(frame, self.track(frame), self.start_emotion(frame, _Now()))

    def classify_emotion(self, frame: Frame, res: Res) -> None:
        return None


class _Now:
    def submit(self, fn):
        f: Future = Future()
        f.set_result(fn())
        return f


class Spotter:
    """An event every 25 frames; records the frames it saw and the context it was given."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.seen: list[int] = []
        self.prepared: list[tuple[int, object]] = []
        self.context = None
        self.fail_at = fail_at
        self.threads: set[str] = set()

    def set_context(self, pipeline=None, versions=None) -> None:
        self.context = pipeline

    def prepare(self, frame: Frame) -> None:
        guide = getattr(self.context, "previous_landmarks", None)
        self.prepared.append((frame.index, guide))

    def update(self, frame: Frame, res: Res) -> list:
        self.threads.add(threading.current_thread().name)
        if frame.index == self.fail_at:
            raise ValueError(f"spotter failed on frame {frame.index}")
        self.seen.append(frame.index)
        return [f"event@{frame.index}"] if frame.index % 25 == 24 else []

    def flush(self) -> list:
        return []


def frames(n: int):
    img = np.zeros((4, 4, 3), np.uint8)
    for i in range(n):
        yield Frame(img, i * 8_333_333, i)


def run_all(loop, n: int) -> list:
    out = []
    for f in frames(n):
        out.extend(loop.put(f))
    out.extend(loop.close())
    loop.check()
    return out


def test_pipelined_loop_hands_back_every_frame_once_in_order_with_the_serial_results():
    pipe, spot = Pipeline(), Spotter()
    loop = PipelinedLoop(pipe, spot, workers=2)
    done = run_all(loop, 500)
    assert [d.frame.index for d in done] == list(range(500))  # none lost, none reordered, the last ones at close
    assert pipe.tracked == list(range(500)) and pipe.finished == list(range(500)) and spot.seen == list(range(500))
    assert [e for d in done for e in d.events] == [f"event@{i}" for i in range(24, 500, 25)]
    assert all(d.done_ns >= d.put_ns > 0 for d in done)
    # Tracking and spotting ran on two threads of their own, neither the caller's.
    caller = threading.current_thread().name
    assert pipe.threads["track"] == {"loop-track"} and spot.threads == {"loop-spot"}
    assert caller not in pipe.threads["track"] | spot.threads
    # The spotter saw, at each frame, the previous frame's landmarks: the serial loop's guide.
    assert spot.prepared == [(i, i - 1 if i else None) for i in range(500)]
    assert spot.context is not None and spot.context.side is not None  # the side thread, replayed inline
    assert [d.res.emotion for d in done] == [("emotion", i - 1 if i else None) for i in range(500)]

    serial_pipe, serial_spot = Pipeline(), Spotter()
    serial = run_all(SerialLoop(serial_pipe, serial_spot), 500)
    assert [d.events for d in serial] == [d.events for d in done]
    assert [d.res.emotion for d in serial] == [d.res.emotion for d in done]


def test_a_stage_that_fails_delivers_the_frames_before_it_in_order_then_raises():
    for pipe, spot, where in ((Pipeline(fail_track_at=73), Spotter(), "track"),
                              (Pipeline(), Spotter(fail_at=73), "spot")):
        loop = PipelinedLoop(pipe, spot, workers=2)
        done = []
        with pytest.raises(StageError, match=f"stage {where} failed") as err:
            for f in frames(300):
                done.extend(loop.put(f))
            done.extend(loop.close())
            loop.check()
        done.extend(loop.close())
        assert [d.frame.index for d in done] == list(range(73)), where
        assert isinstance(err.value.__cause__, (RuntimeError, ValueError))
        assert spot.seen == list(range(73))  # nothing after the failed frame reached the spotter
        loop.abort()
        assert not [t for t in threading.enumerate() if t.name.startswith("loop-") and t.is_alive()]


def test_one_usable_core_runs_the_stages_inline():
    pipe, spot = Pipeline(), Spotter()
    loop = PipelinedLoop(pipe, spot, workers=1)
    done = run_all(loop, 60)
    assert [d.frame.index for d in done] == list(range(60))
    assert pipe.threads["track"] == {threading.current_thread().name} == spot.threads


def test_opencv_runs_single_threaded_under_stage_threads_and_gets_its_pool_back_at_close():
    class Counting(Pipeline):
        def __init__(self) -> None:
            super().__init__()
            self.cv_threads: set[int] = set()

        def track(self, frame: Frame) -> Res:
            self.cv_threads.add(cv2.getNumThreads())
            return super().track(frame)

    before = cv2.getNumThreads()
    try:
        cv2.setNumThreads(3)
        for workers, inside in ((2, {1}), (1, {3})):  # inline on one core: OpenCV left alone
            pipe = Counting()
            loop = PipelinedLoop(pipe, Spotter(), workers=workers)
            run_all(loop, 40)
            assert pipe.cv_threads == inside and cv2.getNumThreads() == 3, workers
        loop = PipelinedLoop(Pipeline(), Spotter(), workers=2)
        loop.put(next(frames(1)))
        loop.abort()  # a crashing caller restores it too
        assert cv2.getNumThreads() == 3
    finally:
        cv2.setNumThreads(before)


def test_the_loop_is_chosen_by_name_and_a_pipeline_without_split_steps_is_refused():
    assert make_loop("serial", Pipeline(), None).mode == "serial"
    assert make_loop("pipelined", Pipeline(), None, workers=1).mode == "pipelined"
    with pytest.raises(ValueError, match="vision.loop"):
        make_loop("lanes", Pipeline(), None)

    class Whole:
        def process(self, frame):
            return Res(frame.index)

    with pytest.raises(TypeError, match="serial"):
        make_loop("pipelined", Whole(), None)


def test_real_pipeline_and_spotter_give_the_serial_results_frame_by_frame():
    """The FacePipeline and Spotter themselves: landmarks, emotion and pose of every frame equal."""
    import cv2
    from fixtures.footage import astronaut_face

    from edge.analysis import make_spotter
    from edge.config import load_config
    from edge.vision.pipeline import FacePipeline

    cfg = load_config(environ={})
    base = np.zeros((480, 640, 3), np.uint8)
    base[:, 80:560] = cv2.resize(astronaut_face(480), (480, 480))
    rng = np.random.default_rng(5)
    clip = [Frame(np.clip(base.astype(np.int16) + rng.integers(-6, 7, base.shape), 0, 255).astype(np.uint8),
                  i * 8_333_333, i) for i in range(160)]
    results = {}
    for mode in ("serial", "pipelined"):
        pipeline = FacePipeline.from_config(cfg.vision)
        spotter = make_spotter(cfg, pipeline)
        loop = make_loop(mode, pipeline, spotter, workers=2)
        results[mode] = [d for f in clip for d in loop.put(f)] + loop.close()
        pipeline.close()
    s, p = results["serial"], results["pipelined"]
    assert [d.frame.index for d in p] == list(range(160))
    assert sum(d.res.face for d in s) == 160
    for a, b in zip(s, p):
        np.testing.assert_array_equal(a.res.landmarks, b.res.landmarks)
        assert (a.res.emotion is None) == (b.res.emotion is None)
        if a.res.emotion is not None:
            np.testing.assert_array_equal(a.res.emotion, b.res.emotion)
        assert a.res.pose == b.res.pose
        assert a.reading == b.reading  # the spotter's score and gate flags on the frame
    assert sum(d.res.emotion is not None for d in p) >= 160 // 4
    read = [d.reading for d in p if d.reading is not None]
    # every frame has one from the first measured on (the tracker settles on the face for 100 ms first)
    assert len(read) >= 140 and [r.index for r in read] == list(range(read[0].index, 160))
