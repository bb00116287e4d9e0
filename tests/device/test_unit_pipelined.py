"""The Unit with the pipelined loop (vision.loop = "pipelined"): its guarantees hold with the
frame's work on stage threads: the watchdog stops when a stage hangs, every frame handed to the
loop is finished at stop (none lost), events come out in frame order."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future

from test_unit import Camera, EveryNSpotter, Result, lines, make_unit, notify, start  # noqa: F401 (fixture)

from edge.sources.frame import Frame


class SplitPipeline:
    """Stands in for FacePipeline's split steps; `stall` hangs tracking like a hung interpreter."""

    def __init__(self) -> None:
        self.stall = threading.Event()
        self.release = threading.Event()
        self.side = None
        self.tracked: list[int] = []
        self.finished: list[int] = []
        self.track_threads: set[str] = set()
        self.previous_landmarks = None

    def track(self, frame: Frame) -> Result:
        self.track_threads.add(threading.current_thread().name)
        if self.stall.is_set():
            self.release.wait(30)
        self.tracked.append(frame.index)
        return Result(frame.index, frame.t_ns)

    def start_emotion(self, frame: Frame, executor) -> Future | None:
        return None

    def finish(self, frame: Frame, res: Result, early) -> Result:
        self.finished.append(frame.index)
        return res

    def process(self, frame: Frame) -> Result:
        raise AssertionError("the pipelined loop never calls process()")


class OrderSpotter(EveryNSpotter):
    def __init__(self, n: int = 60) -> None:
        super().__init__(n)
        self.indices: list[int] = []

    def update(self, frame, res):
        self.indices.append(frame.index)
        return super().update(frame, res)


def test_pipelined_unit_stops_feeding_the_watchdog_when_a_stage_hangs(tmp_path, notify):
    path, got = notify
    pipe = SplitPipeline()
    unit, outbox = make_unit(tmp_path, path, pipe, OrderSpotter(), lambda: Camera())
    assert unit.loop.mode == "pipelined"
    t, box = start(unit)
    time.sleep(1.2)
    fed = lines(got, "WATCHDOG=1")
    assert len(fed) >= 4, fed
    pipe.stall.set()
    stalled_at = time.monotonic()
    time.sleep(2.0)
    during = [x for x in lines(got, "WATCHDOG=1", stalled_at + 1.2) if x < stalled_at + 1.95]
    assert during == [], "the watchdog was fed while a stage hung"
    pipe.release.set()
    pipe.stall.clear()
    time.sleep(0.8)
    assert len(lines(got, "WATCHDOG=1", stalled_at + 2.0)) >= 2  # fed again once frames flow
    unit.request_stop()
    t.join(5)
    assert box["rc"] == 0
    assert pipe.track_threads == {"loop-track"}
    outbox.close()


def test_pipelined_unit_finishes_every_frame_handed_over_at_stop_in_order(tmp_path, notify):
    path, got = notify
    pipe = SplitPipeline()
    spotter = OrderSpotter(n=60)
    unit, outbox = make_unit(tmp_path, path, pipe, spotter, lambda: Camera(), clips=True)
    outbox.start_session("interview-1")
    t, box = start(unit)
    time.sleep(1.3)
    unit.request_stop()
    t.join(5)
    assert box["rc"] == 0
    # Every frame tracked was spotted and counted, in the camera's order (drops skip indices, never reorder).
    assert spotter.indices == pipe.tracked == pipe.finished
    assert spotter.indices == sorted(spotter.indices) and len(set(spotter.indices)) == len(spotter.indices)
    assert unit.snapshot.frames_processed == len(spotter.indices) > 50
    assert unit.loop.oldest_pending_s() == 0.0
    stored = outbox.events()
    assert len(stored) >= 2 and spotter.flushed >= 1
    assert all(e["session"] == "interview-1" for e in stored)
    clips = sorted(p.parent.name for p in (unit.cfg.data_dir / "clips").glob("*/clip.json"))
    assert clips == sorted(e["id"] for e in stored)
    assert "spotting" in unit.last_health["latency_ms"] and "frame" in unit.last_health["latency_ms"]
    outbox.close()
