"""edge/events/clock.py: event times follow a wall clock that steps, and say whether it was synchronised."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import jsonschema
import pytest

from edge.events.clock import UtcAnchor, kernel_clock_synced, system_clock_synced
from edge.events.record import EMOTIONS, Event, utc_iso
from edge.publish.schemas import load_schema

BOOT = datetime(2026, 11, 20, 9, 0, 0, tzinfo=timezone.utc)  # what fake-hwclock restored at boot
TRUE_NOW = datetime(2026, 12, 4, 7, 30, 0, tzinfo=timezone.utc)  # what NTP will say


class FakeSystem:
    """A monotonic clock and a wall clock that can be stepped, as settimeofday() steps CLOCK_REALTIME."""

    def __init__(self) -> None:
        self.mono_ns = 5_000_000_000
        self.wall_offset = BOOT - datetime(1970, 1, 1, tzinfo=timezone.utc) - timedelta(seconds=5)
        self.synced = False
        self.lag_ns = 0  # time between the two monotonic reads around one wall read (a preempted read)

    def monotonic_ns(self) -> int:
        return self.mono_ns

    def wall(self) -> datetime:
        self.mono_ns += self.lag_ns
        return datetime(1970, 1, 1, tzinfo=timezone.utc) + self.wall_offset + timedelta(
            microseconds=self.mono_ns // 1000)

    def advance(self, seconds: float) -> None:
        self.mono_ns += int(seconds * 1e9)

    def step(self, to: datetime) -> None:
        self.wall_offset += to - self.wall()

    def anchor(self) -> UtcAnchor:
        return UtcAnchor(wall=self.wall, monotonic_ns=self.monotonic_ns, synced_now=lambda: self.synced)


def frame_t(system: FakeSystem) -> int:
    """A camera timestamp: the sensor's own clock, 1 s off the monotonic one."""
    return system.mono_ns + 1_000_000_000


def test_a_stepped_wall_clock_re_anchors_event_times():
    sys_ = FakeSystem()
    anchor = sys_.anchor()
    t0 = frame_t(sys_)
    anchor.observe(t0)
    assert anchor.utc(t0) == BOOT
    sys_.advance(10.0)
    t1 = frame_t(sys_)
    anchor.observe(t1)
    assert anchor.utc(t1) == BOOT + timedelta(seconds=10)
    # NTP answers: the wall clock steps two weeks ahead; the monotonic clock does not.
    sys_.step(TRUE_NOW)
    sys_.advance(2.0)
    t2 = frame_t(sys_)
    anchor.observe(t2)
    assert anchor.utc(t2) == TRUE_NOW + timedelta(seconds=2)
    assert anchor.steps == 1
    # The clock steps back a little (a second NTP correction): followed too.
    sys_.step(sys_.wall() - timedelta(milliseconds=700))
    sys_.advance(1.5)
    t3 = frame_t(sys_)
    anchor.observe(t3)
    assert anchor.utc(t3) == TRUE_NOW + timedelta(seconds=3.5) - timedelta(milliseconds=700)
    assert anchor.steps == 2


def test_a_steady_clock_is_never_re_anchored_and_a_preempted_read_is_no_step():
    sys_ = FakeSystem()
    anchor = sys_.anchor()
    anchor.observe(frame_t(sys_))
    for _ in range(50):
        sys_.advance(0.3)
        anchor.observe(frame_t(sys_))
    assert anchor.steps == 0
    # A read interrupted for 40 ms between the monotonic and wall reads looks like a 40 ms step
    # unless the read is bracketed; it is, so nothing moves.
    sys_.lag_ns = 40_000_000
    sys_.advance(2.0)
    t = frame_t(sys_)
    anchor.observe(t)
    assert anchor.steps == 0


def test_events_before_synchronisation_are_marked():
    sys_ = FakeSystem()
    anchor = sys_.anchor()
    anchor.observe(frame_t(sys_))
    assert anchor.synced is False
    sys_.advance(5.0)
    anchor.observe(frame_t(sys_))
    assert anchor.synced is False
    sys_.step(TRUE_NOW)
    sys_.synced = True
    sys_.advance(5.0)
    t = frame_t(sys_)
    anchor.observe(t)
    assert anchor.synced is True and anchor.utc(t) == TRUE_NOW + timedelta(seconds=5)


def test_an_explicit_clock_keeps_the_old_anchor_once_behaviour():
    fixed = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    anchor = UtcAnchor.of(lambda: fixed)
    anchor.observe(7_000_000)
    anchor.observe(9_000_000_000)
    assert anchor.utc(7_000_000 + 1_500_000) == fixed + timedelta(microseconds=1500)
    assert anchor.synced is True and anchor.steps == 0
    assert UtcAnchor.of(anchor) is anchor
    assert isinstance(UtcAnchor.of(None), UtcAnchor)


def test_sync_state_from_timesyncd_flag_or_the_kernel(tmp_path):
    flag = tmp_path / "synchronized"
    assert system_clock_synced(flag, kernel=lambda: None) is False  # refused (ProtectClock=): not known
    assert system_clock_synced(flag, kernel=lambda: False) is False
    assert system_clock_synced(flag, kernel=lambda: True) is True
    flag.touch()
    assert system_clock_synced(flag, kernel=lambda: None) is True
    assert kernel_clock_synced() in (True, False, None)  # the real adjtimex(2), read-only


def _event(**kw) -> Event:
    return Event(1, 2, 3, utc_iso(BOOT), utc_iso(BOOT), utc_iso(BOOT), 16.7, "micro", "fear", 0.5,
                 {e: 0.0 for e in EMOTIONS}, {"AU1": 0.3}, {"yaw": 0.0, "pitch": 0.0, "roll": 0.0},
                 {"software": "t"}, **kw)


def test_the_event_record_carries_the_mark_and_old_payloads_stay_valid():
    schema = load_schema("event")
    marked = _event(clock_synced=False).to_dict()
    assert marked["clock_synced"] is False
    jsonschema.validate(marked, schema)
    old = _event().to_dict()
    assert "clock_synced" not in old  # unknown: the record says nothing rather than guess
    jsonschema.validate(old, schema)
    assert Event.from_dict(old).clock_synced is None and Event.from_dict(marked).clock_synced is False
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**marked, "clock_synced": "yes"}, schema)
