"""The Unit at the class level: watchdog fed only by the processing loop, clean stop, sessions, LEDs.

The pipeline and spotter are small in-test stand-ins (one can be made to block, to
stall the loop); the outbox is the real SQLite one, the notify socket a real unix
datagram socket, the LEDs and button gpiozero MockFactory pins, the camera a
flaky fake at the hardware edge.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pytest
from device_helpers import BOX, event
from gpiozero.pins.mock import MockFactory

from edge.config import load_config
from edge.device.clips import ClipRecorder, ClipStore
from edge.device.controls import Controls, Fault
from edge.device.notify import SystemdNotifier
from edge.device.unit import FRESH_FRAME_S as FRESH
from edge.device.unit import Unit
from edge.errors import ConfigError, SourceError
from edge.events.outbox import Outbox
from edge.sources.base import FrameSource
from edge.sources.capture import Capture
from edge.sources.frame import Frame

FPS = 120.0


class Camera(FrameSource):
    """A 120 fps camera; `fail_at` frames in, it drops off the bus (hardware edge)."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.fail_at = fail_at
        self.img = np.full((240, 320, 3), 90, np.uint8)

    def frames(self) -> Iterator[Frame]:
        i = 0
        t0 = time.monotonic_ns()
        period = int(1e9 / FPS)
        while self.fail_at is None or i < self.fail_at:
            due = t0 + i * period
            time.sleep(max(0, due - time.monotonic_ns()) / 1e9)
            yield Frame(self.img, due, i)
            # A sensor never bursts: frames it could not hand over are simply gone.
            i = max(i + 1, (time.monotonic_ns() - t0) // period)
        raise SourceError("picamera2:0: camera stopped delivering frames (TimeoutError)")


@dataclass
class Result:
    frame_index: int
    t_ns: int
    face: bool = True
    box: tuple = BOX
    timings_ms: dict = field(default_factory=lambda: {"landmarks": 1.0})


class StallablePipeline:
    """Stands in for FacePipeline; `stall` blocks process() like a hung interpreter."""

    def __init__(self, face: bool = True) -> None:
        self.stall = threading.Event()
        self.release = threading.Event()
        self.face = face
        self.calls = 0

    def process(self, frame: Frame) -> Result:
        self.calls += 1
        if self.stall.is_set():
            self.release.wait(30)
        return Result(frame.index, frame.t_ns, face=self.face)


class EveryNSpotter:
    """Stands in for the Spotter: an event every `n` frames; flush() returns the one in progress."""

    def __init__(self, n: int = 60) -> None:
        self.n = n
        self.flushed = 0
        self.last = -1
        self.seen = 0

    def update(self, frame: Frame, res: Result) -> list:
        self.last = frame.index
        self.seen += 1
        if self.seen % self.n == 0:  # counted, not by index: dropped frames skip indices
            return [event(frame.index - 20, frame.index - 15, frame.index - 5, session="")]
        return []

    def flush(self) -> list:
        self.flushed += 1
        if self.last < 10:
            return []
        ev = event(self.last - 8, self.last - 4, self.last, session="")
        self.last = -1
        return [ev]


@pytest.fixture
def notify(tmp_path):
    path = tmp_path / "notify.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(str(path))
    s.settimeout(0.05)
    got: list[tuple[float, str]] = []
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            try:
                msg = s.recv(4096).decode()
            except TimeoutError:
                continue
            for line in msg.split("\n"):
                got.append((time.monotonic(), line))

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    yield path, got
    stop.set()
    t.join()
    s.close()


def make_unit(tmp_path, notify_path, pipeline, spotter, camera_factory, watchdog_usec=600_000, clips=False,
              outbox_cls=Outbox, analysis="always"):
    cfg = load_config(overrides={"device.data_dir": str(tmp_path / "data"), "device.id": "room-7",
                                 "mqtt.health_interval_s": 0.2, "source.kind": "picamera2",
                                 "device.analysis": analysis}, environ={})
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    outbox = outbox_cls(cfg.data_dir / "outbox.sqlite3", device="room-7")
    capture = Capture(camera_factory, queue_frames=8, live=True, backoff_s=(0.05, 0.2))
    notifier = SystemdNotifier({"NOTIFY_SOCKET": str(notify_path), "WATCHDOG_USEC": str(watchdog_usec)})
    rec = None
    if clips:
        rec = ClipRecorder(ClipStore(cfg.data_dir / "clips", 100, 7), 100, 100, 200)
    unit = Unit(cfg, capture, pipeline, spotter, outbox, notifier, clips=rec, source_name="camera")
    return unit, outbox


def start(unit):
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("rc", unit.run()), daemon=True)
    t.start()
    return t, box


def wait_for(cond, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


def lines(got, prefix, since=0.0):
    return [t for t, line in list(got) if line.startswith(prefix) and t >= since]


def test_watchdog_fed_by_the_loop_stops_when_the_pipeline_stalls(tmp_path, notify):
    path, got = notify
    pipe = StallablePipeline()
    unit, outbox = make_unit(tmp_path, path, pipe, EveryNSpotter(), lambda: Camera())
    t, box = start(unit)
    time.sleep(1.2)
    assert len(lines(got, "READY=1")) == 1
    fed = lines(got, "WATCHDOG=1")
    assert len(fed) >= 4, fed  # every 0.2 s (a third of WatchdogSec=0.6 s)
    assert max(np.diff(fed)) < 0.4
    pipe.stall.set()
    stalled_at = time.monotonic()
    time.sleep(1.5)
    pipe.release.set()
    pipe.stall.clear()
    during = [x for x in lines(got, "WATCHDOG=1", stalled_at + 0.3) if x < stalled_at + 1.45]
    assert during == [], "the watchdog was fed while the pipeline was stalled"
    time.sleep(0.8)
    assert len(lines(got, "WATCHDOG=1", stalled_at + 1.5)) >= 2  # fed again once it moves
    h = unit.last_health
    assert h["frames_dropped"] > 100  # the camera kept running during the stall; drops were counted
    assert h["frames_in"] >= h["frames_processed"] + h["frames_dropped"] - 8
    unit.request_stop()
    t.join(5)
    assert box["rc"] == 0
    assert wait_for(lambda: lines(got, "STOPPING=1"), 2.0)
    outbox.close()


def test_stop_finishes_the_current_event_and_reports(tmp_path, notify):
    path, got = notify
    spotter = EveryNSpotter(n=60)
    unit, outbox = make_unit(tmp_path, path, StallablePipeline(), spotter, lambda: Camera(), clips=True)
    outbox.start_session("interview-1")
    t, box = start(unit)
    time.sleep(1.3)
    running = dict(unit.last_health)  # a periodic report while the camera runs
    t_stop = time.monotonic()
    unit.request_stop()
    t.join(5)
    took = time.monotonic() - t_stop
    assert box["rc"] == 0 and took < 2.0, took
    stored = outbox.events()
    assert spotter.flushed >= 1
    assert len(stored) >= 2  # periodic events plus the one finished at stop
    assert all(e["session"] == "interview-1" and e["device"] == "room-7" and e["video"] == "camera"
               for e in stored)
    last = max(stored, key=lambda e: e["offset_frame"])
    assert last["offset_frame"] >= unit.snapshot.frames_processed - 10  # the flushed, in-progress one
    # every event got its clip (written by flush at stop)
    clips = sorted(p.parent.name for p in (unit.cfg.data_dir / "clips").glob("*/clip.json"))
    assert clips == sorted(e["id"] for e in stored)
    assert 50 < running["fps_in"] < 135  # a 120 fps camera (lower only when this machine is overloaded)
    health = unit.last_health
    assert health["camera"] == "ok" and health["frames_processed"] > 50
    assert "landmarks" in health["latency_ms"] and "spotting" in health["latency_ms"]
    statuses = [line for _, line in got if line.startswith("STATUS=") and "in=" in line]
    assert statuses and "session=interview-1" in statuses[-1]
    outbox.close()


def test_button_toggles_session_and_leds_follow_the_unit(tmp_path, notify):
    path, got = notify
    factory = MockFactory()
    opened = []

    def camera():
        opened.append(time.monotonic())
        if len(opened) == 1:
            return Camera(fail_at=int(FPS * 3))
        if len(opened) < 6:
            time.sleep(0.3)  # libcamera takes a while to say no
            raise SourceError("picamera2: camera 0 not detected (0 found)")
        return Camera()

    pipe = StallablePipeline()
    unit, outbox = make_unit(tmp_path, path, pipe, EveryNSpotter(n=30), camera)
    cfg = load_config(overrides={"gpio.enabled": True}, environ={})
    controls = Controls(cfg.gpio, factory, on_button=unit.request_session_toggle)
    unit.attach_controls(controls)
    rec_led, fault_led, button = (factory.pin(p) for p in (17, 27, 22))
    t, box = start(unit)
    assert wait_for(lambda: rec_led.state is True, 3.0)
    assert controls.analysing  # the interviewee sees the camera is analysing
    assert controls.shown_fault is None
    button.drive_low()
    button.drive_high()
    assert wait_for(lambda: unit.session != "", 3.0)
    sid = outbox.current_session()["id"]
    assert sid.startswith("s-") and unit.session == sid
    done = unit.snapshot.frames_processed
    assert wait_for(lambda: unit.snapshot.frames_processed >= done + 40, 5.0)
    button.drive_low()
    button.drive_high()
    assert wait_for(lambda: unit.session == "", 3.0)
    assert outbox.current_session() is None
    in_session = [e for e in outbox.events() if e["session"] == sid]
    assert len(in_session) >= 1
    # the camera drops off 3 s in and is retried: LED off, fault pattern on
    assert wait_for(lambda: controls.shown_fault is Fault.CAMERA_LOST, 5.0)
    time.sleep(FRESH + 0.1)
    assert len(opened) < 6, "test too slow to observe the outage"
    assert rec_led.state is False and not controls.analysing
    assert len(fault_led.states) > 3  # blinking
    assert wait_for(lambda: len(opened) >= 6, 10.0)
    assert wait_for(lambda: controls.shown_fault is None and rec_led.state is True, 3.0)  # back after retries
    assert wait_for(lambda: unit.last_health["camera"] == "ok", 2.0)
    pipe.face = False
    assert wait_for(lambda: controls.shown_fault is Fault.NO_FACE, 4.0)
    unit.request_stop()
    t.join(5)
    assert box["rc"] == 0
    assert rec_led.state is False and fault_led.state is False
    controls.close()
    outbox.close()
    factory.reset()


def test_a_setting_the_camera_refuses_is_shown_not_retried_and_reported_after_a_clean_stop(tmp_path, notify):
    path, got = notify
    opened = []
    factory = MockFactory()

    def camera():
        opened.append(1)
        raise ConfigError("source.stream: the camera refuses a 768x432 BGR888 lores stream (lores stream must be YUV)")

    unit, outbox = make_unit(tmp_path, path, StallablePipeline(), EveryNSpotter(), camera)
    controls = Controls(load_config(overrides={"gpio.enabled": True}, environ={}).gpio, factory, lambda: None)
    unit.attach_controls(controls)
    fault_led = factory.pin(27)
    box: dict = {}

    def run() -> None:
        try:
            unit.run()
        except ConfigError as e:
            box["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    # The unit stays up (its watchdog fed, its health published) and shows the fault: the LED lit steadily.
    assert wait_for(lambda: controls.shown_fault is Fault.CAMERA_FAILED, 5.0)
    time.sleep(0.5)
    assert fault_led.state is True and len(fault_led.states) <= 3  # on, not blinking
    assert opened == [1] and t.is_alive()  # never retried
    assert wait_for(lambda: (unit.last_health or {}).get("camera") == "off", 3.0)
    status = [line for _, line in list(got) if line.startswith("STATUS=")]
    assert any("lores stream must be YUV" in line for line in status)
    unit.request_stop()
    t.join(5)
    assert "source.stream" in str(box.get("error"))  # then one line and exit 2 from the command line
    assert wait_for(lambda: lines(got, "STOPPING=1"), 10.0)  # read by another thread; generous on a loaded CI
    assert json.loads(unit.health_path.read_text())["frames_in"] == 0
    controls.close()
    outbox.close()
    factory.reset()


def test_outside_a_session_no_frame_is_analysed_and_the_recording_led_is_off(tmp_path, notify):
    path, got = notify
    factory = MockFactory()
    pipe = StallablePipeline()
    unit, outbox = make_unit(tmp_path, path, pipe, EveryNSpotter(n=30), lambda: Camera(), clips=True,
                             analysis="session")
    controls = Controls(load_config(overrides={"gpio.enabled": True}, environ={}).gpio, factory, lambda: None)
    unit.attach_controls(controls)
    rec_led = factory.pin(17)
    t, box = start(unit)
    assert wait_for(lambda: unit.capture.stats().frames_in > 120, 5.0)
    assert pipe.calls == 0 and unit.snapshot.frames_processed == 0
    assert rec_led.state is False and not controls.analysing
    assert outbox.events() == [] and not list((tmp_path / "data" / "clips").glob("*/clip.json"))
    outbox.start_session("interview-9")  # the dashboard or an MQTT command
    assert wait_for(lambda: rec_led.state is True and unit.snapshot.frames_processed > 60, 5.0)
    assert wait_for(lambda: len(outbox.events()) >= 1, 5.0)
    outbox.stop_session()
    assert wait_for(lambda: rec_led.state is False, 2.0 + FRESH)
    done = pipe.calls
    time.sleep(0.5)
    assert pipe.calls == done  # nothing analysed once the session ended
    assert {e["session"] for e in outbox.events()} == {"interview-9"}
    unit.request_stop()
    t.join(5)
    assert box["rc"] == 0
    controls.close()
    outbox.close()
    factory.reset()


class SlowDisk(Outbox):
    """The real outbox on a disk whose every commit takes 0.25 s (an SD card's worst fsyncs), noting
    which threads call it."""

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self.callers: set[str] = set()

    def put(self, event):
        self.callers.add(threading.current_thread().name)
        time.sleep(0.25)
        return super().put(event)

    def current_session(self):
        self.callers.add(threading.current_thread().name)
        return super().current_session()

    def stats(self):
        self.callers.add(threading.current_thread().name)
        return super().stats()


def test_a_slow_disk_never_stalls_the_loop_and_every_event_is_committed(tmp_path, notify):
    path, _got = notify
    spotter = EveryNSpotter(n=12)  # ten events a second, the disk takes four
    unit, outbox = make_unit(tmp_path, path, StallablePipeline(), spotter, lambda: Camera(), outbox_cls=SlowDisk)
    outbox.start_session("interview-2")
    backlog = []
    t = threading.Thread(target=lambda: backlog.append(unit.run()), name="unit-loop", daemon=True)
    t.start()
    assert wait_for(lambda: unit.events_emitted >= 10, 5.0)
    assert wait_for(lambda: unit.last_health["outbox"]["writer_backlog"] > 0, 2.0)  # reported while it lasts
    unit.request_stop()
    t.join(10)
    assert backlog == [0]
    st = unit.capture.stats()
    # With the commits on the loop, each stalled it 0.25 s: the 8-frame queue overflowed and the
    # loop kept up with about half the frames. Now it keeps up with the camera.
    assert st.frames_dropped <= 0.05 * st.frames_in, (st.frames_dropped, st.frames_in)
    assert unit.snapshot.frames_processed >= 0.95 * st.frames_in - 8
    stored = outbox.events()
    assert len(stored) == unit.events_emitted  # the backlog was committed at stop, nothing lost
    assert all(e["session"] == "interview-2" for e in stored)
    assert [p[1]["offset_frame"] for p in outbox.pending(1000)] == sorted(e["offset_frame"] for e in stored)
    assert unit.last_health["outbox"]["depth"] == len(stored) and unit.last_health["outbox"]["writer_backlog"] == 0
    assert "unit-loop" not in outbox.callers and "outbox-writer" in outbox.callers  # the loop never waits on it
    outbox.close()
