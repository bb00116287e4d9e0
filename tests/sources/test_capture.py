"""The capture thread: bounded queue, counted drops, camera loss retried with backoff."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest
from fixtures.footage import write_head_motion_clip

from edge.config import load_config
from edge.errors import ConfigError, SourceError
from edge.sources.base import FrameSource
from edge.sources.capture import LOST, OK, RETRYING, Capture, on_virtual_machine, poll_budget_s
from edge.sources.frame import Frame
from edge.sources.video import VideoFileSource

IMG = np.zeros((8, 8, 3), np.uint8)


class FlakyCamera(FrameSource):
    """A camera at the hardware edge: yields `n` frames at `fps`, then fails (None = never)."""

    def __init__(self, n: int | None, fps: float = 500.0, log: list | None = None) -> None:
        self.n, self.period = n, 1.0 / fps
        self.log = log if log is not None else []
        self.closed = False

    def frames(self) -> Iterator[Frame]:
        i = 0
        while self.n is None or i < self.n:
            time.sleep(self.period)
            self.log.append(time.monotonic())
            yield Frame(IMG, time.monotonic_ns(), i)
            i += 1
        raise SourceError("camera unplugged")

    def close(self) -> None:
        self.closed = True


def wait_for(cond, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.01)
    return False


def test_replay_delivers_every_frame_in_order_without_dropping(tmp_path):
    clip = write_head_motion_clip(tmp_path / "c.mp4", fps=120.0, seconds=0.5, size=(160, 120))
    cap = Capture(lambda: VideoFileSource(clip), queue_frames=2, live=False, drop_when_full=False).start()
    got = []
    while not cap.ended:
        f = cap.get(0.5)
        if f is not None:
            got.append(f)
            time.sleep(0.002)  # slower consumer than the decoder: a file replay waits, never drops
    cap.stop()
    st = cap.stats()
    assert [f.index for f in got] == list(range(60))
    assert st.frames_in == 60 and st.frames_dropped == 0 and st.camera == "ended"
    assert cap.error is None
    # container timestamps: 120 fps
    assert np.median(np.diff([f.t_ns for f in got])) == pytest.approx(1e9 / 120, rel=0.01)


def test_slow_consumer_drops_oldest_and_never_slows_the_camera():
    produced: list[float] = []
    cam = FlakyCamera(None, fps=400, log=produced)
    cap = Capture(lambda: cam, queue_frames=4, live=True).start()
    got = []
    t_end = time.monotonic() + 1.0
    while time.monotonic() < t_end:
        f = cap.get(0.1)
        if f is not None:
            got.append(f.index)
            time.sleep(0.02)  # ~50 fps processing against a 400 fps camera
    cap.stop()
    st = cap.stats()
    assert cam.closed
    # The camera kept its own pace while processing lagged: no back-pressure.
    rate = (len(produced) - 1) / (produced[-1] - produced[0])
    assert rate > 200, rate
    assert len(produced) - 1 <= st.frames_in <= len(produced)  # the last may be yielded after stop()
    assert st.frames_dropped > 0.6 * st.frames_in
    queued_at_end = st.frames_in - st.frames_dropped - len(got)
    assert 0 <= queued_at_end <= 4
    assert got == sorted(got) and len(set(got)) == len(got)
    # Dropping the oldest keeps latency bounded: consecutive takes jump ahead by ~queue+rate.
    assert max(np.diff(got)) > 4


def test_camera_loss_is_retried_with_backoff_and_reported():
    opens: list[float] = []
    plan = ["fail", 5, "fail", "fail", None]  # open fails, 5 frames then unplug, two failed reopens, then fine

    def open_camera() -> FrameSource:
        opens.append(time.monotonic())
        step = plan.pop(0) if plan else None
        if step == "fail":
            raise SourceError("picamera2: camera 0 not detected (0 found)")
        return FlakyCamera(step, fps=200)

    states: list[str] = []
    cap = Capture(open_camera, queue_frames=64, live=True, backoff_s=(0.05, 0.4))
    seen: list[int] = []
    stop_watch = threading.Event()

    def watch():
        while not stop_watch.is_set():
            s = cap.stats().camera
            if not states or states[-1] != s:
                states.append(s)
            time.sleep(0.002)

    w = threading.Thread(target=watch)
    w.start()
    cap.start()
    assert wait_for(lambda: cap.stats().frames_in >= 20, 5.0)
    cap.stop()
    while (f := cap.get(0.05)) is not None:  # what the consumer still gets after stop()
        seen.append(f.index)
    stop_watch.set()
    w.join()
    st = cap.stats()
    assert len(opens) == 5 and st.reconnects == 4
    assert st.last_error  # the reason is kept for health/logs
    # ok -> lost -> retrying -> ok: every state visible from outside
    assert states[0] == RETRYING and OK in states and LOST in states
    assert states.index(LOST) < len(states) - 1 - states[::-1].index(OK)
    # Backoff doubles after each failure (0.05, then after the loss 0.05, 0.1, 0.2 ...)
    gaps = np.diff(opens)
    assert gaps[0] >= 0.05
    assert gaps[3] >= 0.19 and gaps[3] > gaps[2] * 1.7
    # Indices never repeat across reopenings (the second camera restarts at 0).
    assert seen == sorted(seen) and len(set(seen)) == len(seen)
    assert seen[:5] == [0, 1, 2, 3, 4] and seen[5] == 5


def test_replay_of_a_broken_file_ends_with_the_error(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all" * 100)
    cap = Capture(lambda: VideoFileSource(bad), queue_frames=2, live=False).start()
    assert wait_for(lambda: cap.ended, 5.0)
    cap.stop()
    assert isinstance(cap.error, SourceError) and "not a readable video" in str(cap.error)
    assert cap.get(0.01) is None


class PacedFrames(FrameSource):
    """`n` frames, the first after `first_s`, then one every `period_s`; then the replay ends."""

    def __init__(self, n: int, period_s: float, first_s: float = 0.0) -> None:
        self.n, self.period_s, self.first_s = n, period_s, first_s

    def frames(self) -> Iterator[Frame]:
        time.sleep(self.first_s)
        for i in range(self.n):
            if i:
                time.sleep(self.period_s)
            yield Frame(IMG, time.monotonic_ns(), i)


@pytest.mark.parametrize("wait, virtual, fps, budget", [
    ("sleep", True, 120.0, 0.0), ("auto", False, 120.0, 0.0),
    ("auto", True, 120.0, 2 / 120), ("poll", False, 30.0, 2 / 30),
])
def test_poll_budget_follows_the_setting_and_the_machine(wait, virtual, fps, budget):
    assert poll_budget_s(wait, fps, virtual=lambda: virtual) == pytest.approx(budget)


def test_an_unknown_wait_mode_is_refused_where_the_config_is_validated():
    with pytest.raises(ConfigError, match="source.wait: must be auto, sleep or poll, got 'spin'"):
        load_config(overrides={"source.wait": "spin"}, environ={})


@pytest.mark.parametrize("text, virtual", [
    ("processor\t: 0\nflags\t\t: fpu vme sse2 hypervisor avx512f\n", True),  # an x86 guest
    ("processor\t: 0\nflags\t\t: fpu vme sse2 avx512f\n", False),  # x86 bare metal
    ("processor\t: 0\nFeatures\t: fp asimd evtstrm aes\nModel\t\t: Raspberry Pi 5 Model B\n", False),  # the Pi
])
def test_a_virtual_machine_is_known_by_its_cpu_flags(tmp_path, text, virtual):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(text)
    assert on_virtual_machine(cpuinfo) is virtual
    assert on_virtual_machine(tmp_path / "missing") is False


def test_a_polling_get_hands_over_every_frame_in_order_and_sees_the_end():
    cap = Capture(lambda: PacedFrames(60, 0.002), queue_frames=24, live=False, poll_s=0.02).start()
    got = []
    while not cap.ended:
        f = cap.get(1.0)
        if f is not None:
            got.append(f.index)
    cap.stop()
    assert got == list(range(60)) and cap.stats().frames_dropped == 0


def test_polling_gives_up_after_its_budget_and_blocks():
    """A camera that pauses: the loop spins for its budget, then sleeps until the frame comes."""
    cap = Capture(lambda: PacedFrames(1, 0.0, first_s=0.3), queue_frames=4, live=False, poll_s=0.01).start()
    wall, cpu = time.monotonic(), time.thread_time()
    frame = cap.get(2.0)
    wall, cpu = time.monotonic() - wall, time.thread_time() - cpu
    cap.stop()
    assert frame is not None and frame.index == 0
    assert wall >= 0.2, "the frame came after the pause"
    assert cpu < 0.1, f"spun {cpu * 1e3:.0f} ms of a {wall * 1e3:.0f} ms wait: the budget is 10 ms"


def test_the_spin_counts_towards_the_timeout():
    cap = Capture(lambda: PacedFrames(1, 0.0, first_s=0.6), queue_frames=4, live=False, poll_s=0.2).start()
    t = time.monotonic()
    assert cap.get(0.3) is None
    waited = time.monotonic() - t
    cap.stop(2.0)
    assert 0.29 <= waited < 0.45, f"get(0.3) returned after {waited:.2f} s (spin 0.2 s, then block the rest)"
