"""Wall-clock times for frames, that follow the system clock when it steps and know whether it was synchronised.

A unit has no RTC battery; Raspberry Pi OS restores the last shutdown time at
boot (fake-hwclock), and NTP may answer minutes or weeks later and step the
wall clock. Frames carry monotonic (sensor or container) timestamps, so event
times are the anchor's wall time plus the frame's monotonic offset from it. A
`UtcAnchor` watches the distance between the wall clock and the monotonic clock
and moves its anchor by any step, so events after the step carry true times; and
it reads whether the system clock is synchronised, so events taken before are
marked (`Event.clock_synced = False`) instead of silently wrong.
"""

from __future__ import annotations

import ctypes
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

log = logging.getLogger(__name__)

TIMESYNC_FLAG = Path("/run/systemd/timesync/synchronized")  # systemd-timesyncd touches it once synchronised
STA_UNSYNC = 0x0040  # <linux/timex.h>: the clock is not synchronised
TIME_ERROR = 5  # adjtimex(2)'s return when the clock is not synchronised
STEP_MS = 20.0  # a jump of the wall clock against the monotonic one larger than this is a step
CHECK_EVERY_S = 1.0  # how often the clocks and the sync state are read (not per frame)
READ_SPREAD_NS = 2_000_000  # a wall read bracketed by monotonic reads further apart than this is retried
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class _Timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


class _Timex(ctypes.Structure):
    """struct timex of <sys/timex.h>, as adjtimex(2) documents it (read-only use: modes = 0)."""

    _fields_ = [
        ("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long), ("status", ctypes.c_int),
        ("constant", ctypes.c_long), ("precision", ctypes.c_long), ("tolerance", ctypes.c_long),
        ("time", _Timeval), ("tick", ctypes.c_long), ("ppsfreq", ctypes.c_long), ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int), ("stabil", ctypes.c_long), ("jitcnt", ctypes.c_long), ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long), ("stbcnt", ctypes.c_long), ("tai", ctypes.c_int), ("_reserved", ctypes.c_int * 11),
    ]


def kernel_clock_synced() -> bool | None:
    """The kernel's own answer through adjtimex(2) with modes = 0; None where it cannot be asked.

    systemd's ProtectClock= (and `SystemCallFilter=~@clock`) refuses even this read with EPERM
    (systemd issue 26413), so under microexpr.service the timesyncd flag file answers instead.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)  # the process's own symbols: libc's adjtimex, no ldconfig run
        tx = _Timex()
        state = libc.adjtimex(ctypes.byref(tx))
    except (OSError, AttributeError):
        return None
    if state < 0:
        return None
    return state != TIME_ERROR and not tx.status & STA_UNSYNC


def system_clock_synced(flag: Path = TIMESYNC_FLAG,
                        kernel: Callable[[], bool | None] = kernel_clock_synced) -> bool:
    """True once systemd-timesyncd has synchronised the clock (its flag file) or the kernel says so;
    False when neither can tell: an unknown clock is treated as unsynchronised."""
    try:
        if flag.exists():
            return True
    except OSError:
        pass
    return bool(kernel())


def _wall_utc() -> datetime:
    return datetime.now(timezone.utc)


def _us(t: datetime) -> int:
    return (t - EPOCH) // timedelta(microseconds=1)


class UtcAnchor:
    """Maps frame timestamps (ns, any monotonic clock) to UTC; `observe()` every frame, `utc()` for events.

    Anchored at the first frame; re-anchored (by the size of the step) whenever the wall clock
    steps against the monotonic clock; `synced` is the system clock's state at the last check.
    """

    def __init__(
        self,
        wall: Callable[[], datetime] = _wall_utc,
        monotonic_ns: Callable[[], int] = time.monotonic_ns,
        synced_now: Callable[[], bool] = system_clock_synced,
        step_ms: float = STEP_MS,
        check_every_s: float | None = CHECK_EVERY_S,
    ) -> None:
        self._wall = wall
        self._mono = monotonic_ns
        self._synced_now = synced_now
        self._step_us = step_ms * 1000.0
        self._check_ns = None if check_every_s is None else int(check_every_s * 1e9)
        self._anchor: tuple[datetime, int] | None = None  # (wall time, frame t_ns) at the anchor
        self._offset_us = 0  # wall - monotonic at the anchor, in µs
        self._checked_ns = 0
        self.synced = False
        self.steps = 0

    @classmethod
    def of(cls, clock: "UtcAnchor | Callable[[], datetime] | None") -> "UtcAnchor":
        """What a spotter's `clock` argument means: None = the system clock; a plain callable = that
        clock, read once at the first frame and taken as synchronised (tests, a replay's own clock)."""
        if isinstance(clock, UtcAnchor):
            return clock
        if clock is None:
            return cls()
        return cls(wall=clock, synced_now=lambda: True, check_every_s=None)

    def observe(self, t_ns: int) -> None:
        """Called with every frame's timestamp: anchors at the first, checks the clocks once a second."""
        if self._anchor is None:
            wall, mono, _ = self._read()
            self._anchor = (wall, int(t_ns))
            self._offset_us = _us(wall) - mono // 1000
            self._checked_ns = mono
            self.synced = bool(self._synced_now())
            if not self.synced:
                log.warning("system clock not synchronised: event times are marked clock_synced=false until it is")
            return
        if self._check_ns is None:
            return
        now = self._mono()
        if now - self._checked_ns >= self._check_ns:
            self._check()

    def utc(self, t_ns: int) -> datetime:
        """The wall-clock time of a frame timestamp, under the current anchor."""
        if self._anchor is None:
            self.observe(t_ns)
        assert self._anchor is not None
        wall, t0 = self._anchor
        return wall + timedelta(microseconds=(int(t_ns) - t0) / 1000.0)

    def _read(self) -> tuple[datetime, int, int]:
        """A wall time, the monotonic time it was read at and the read's uncertainty (ns), bracketed
        by two monotonic reads so a preempted read is retried."""
        best: tuple[int, datetime, int] | None = None
        for _ in range(3):
            before = self._mono()
            wall = self._wall()
            after = self._mono()
            spread = after - before
            if best is None or spread < best[0]:
                best = (spread, wall, before + spread // 2)
            if spread <= READ_SPREAD_NS:
                break
        assert best is not None
        return best[1], best[2], best[0]

    def _check(self) -> None:
        synced = bool(self._synced_now())
        if synced != self.synced:
            log.info("system clock %s", "synchronised: events are marked clock_synced=true" if synced
                     else "no longer synchronised: events are marked clock_synced=false")
        wall, mono, spread = self._read()
        self._checked_ns = mono
        if spread <= READ_SPREAD_NS:  # else every read was interrupted: the next check reads again
            offset = _us(wall) - mono // 1000
            step = offset - self._offset_us
            if abs(step) > self._step_us:
                assert self._anchor is not None
                anchor_wall, t0 = self._anchor
                self._anchor = (anchor_wall + timedelta(microseconds=step), t0)
                self._offset_us = offset
                self.steps += 1
                log.warning("wall clock stepped by %+.3f s: event times re-anchored", step / 1e6)
        self.synced = synced
