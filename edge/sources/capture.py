"""A capture thread that feeds a bounded queue, so the camera never waits for processing.

When processing falls behind, the oldest queued frame is dropped and counted (the
freshest frames matter for live latency; the spotter works from timestamps, so a
gap is visible to it). A live camera that fails or disappears is reopened with
exponential backoff and reported; the thread gives up on it only for an error
retrying cannot fix (a setting the camera refuses, a missing package): then the
camera is `failed` and `error` says why.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edge.errors import ConfigError
from edge.sources.base import FrameSource, PermanentSourceError
from edge.sources.frame import Frame

log = logging.getLogger(__name__)

# Camera states as the health payload reports them.
OK, LOST, RETRYING, REPLAY, ENDED, FAILED = "ok", "lost", "retrying", "replay", "ended", "failed"
POLL_PERIODS = 2  # `wait = poll`: spin for at most this many frame periods, then block


def on_virtual_machine(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """True under a hypervisor that says so (the x86 `hypervisor` CPU flag)."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return any(line.startswith("flags") and " hypervisor" in line for line in text.splitlines())


def poll_budget_s(wait: str, fps: float, virtual: Callable[[], bool] = on_virtual_machine) -> float:
    """Seconds `Capture.get` spins before it blocks for a validated `source.wait`; 0 = always block."""
    if wait == "poll" or (wait == "auto" and virtual()):
        return POLL_PERIODS / fps
    return 0.0


@dataclass(frozen=True)
class CaptureStats:
    frames_in: int
    frames_dropped: int
    camera: str
    reconnects: int
    last_error: str


class Capture:
    """Runs `open_source()` and its `frames()` on a thread; `get()` hands frames out.

    `live` cameras are retried until they work (unless the error is permanent: a ConfigError or
    PermanentSourceError ends the stream as `failed`); a replayed file ends the stream when it
    ends (or fails). `drop_when_full=False` makes a fast file replay wait for the
    consumer instead of dropping, which only makes sense for files. With `poll_s`
    (`poll_budget_s`), `get()` spins that long for a frame before it blocks.
    """

    def __init__(
        self,
        open_source: Callable[[], FrameSource],
        queue_frames: int,
        live: bool,
        drop_when_full: bool = True,
        backoff_s: tuple[float, float] = (0.5, 30.0),
        poll_s: float = 0.0,
    ) -> None:
        if queue_frames < 1:
            raise ValueError("queue_frames must be at least 1")
        self.poll_s = max(0.0, poll_s)
        self._open = open_source
        self._queue: collections.deque[Frame] = collections.deque()
        self._capacity = queue_frames
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._live = live
        self._drop = drop_when_full
        self._backoff = backoff_s
        self._frames_in = 0
        self._dropped = 0
        self._reconnects = 0
        self._state = RETRYING if live else REPLAY
        self._last_error = ""
        self._ended = False
        self._index_offset = 0
        self._pumped = 0
        self.error: BaseException | None = None  # why a replay ended early
        self._thread = threading.Thread(target=self._run, name="capture", daemon=True)

    def start(self) -> "Capture":
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def live(self) -> bool:
        """A camera (retried when lost), not a replayed file."""
        return self._live

    @property
    def ended(self) -> bool:
        """True once a replay has ended and every queued frame was taken."""
        with self._cond:
            return self._ended and not self._queue

    def stats(self) -> CaptureStats:
        with self._cond:
            return CaptureStats(self._frames_in, self._dropped, self._state, self._reconnects, self._last_error)

    def get(self, timeout: float) -> Frame | None:
        """The oldest queued frame, or None after `timeout` seconds or at the end."""
        if self.poll_s > 0:
            spin = min(timeout, self.poll_s)
            frame = self._poll(spin)
            if frame is not None:
                return frame
            timeout -= spin
        with self._cond:
            if not self._queue and not self._ended:
                self._cond.wait(timeout)
            if not self._queue:
                return None
            frame = self._queue.popleft()
            self._cond.notify_all()
            return frame

    def _poll(self, budget_s: float) -> Frame | None:
        """Spin for a frame without letting the core idle; sleep(0) hands the GIL to the capture thread."""
        deadline = time.monotonic() + budget_s
        while True:
            if self._queue:
                with self._cond:
                    if self._queue:
                        frame = self._queue.popleft()
                        self._cond.notify_all()
                        return frame
            if self._ended or self._stop.is_set() or time.monotonic() >= deadline:
                return None
            time.sleep(0)

    def _push(self, frame: Frame) -> None:
        with self._cond:
            if len(self._queue) >= self._capacity:
                if self._drop:
                    self._queue.popleft()
                    self._dropped += 1
                else:
                    while len(self._queue) >= self._capacity and not self._stop.is_set():
                        self._cond.wait(0.1)
                    if self._stop.is_set():
                        return
            self._queue.append(frame)
            self._frames_in += 1
            self._cond.notify_all()

    def _set_state(self, state: str, error: str = "") -> None:
        with self._cond:
            self._state = state
            if error:
                self._last_error = error

    def _run(self) -> None:
        delay = self._backoff[0]
        first = True
        while not self._stop.is_set():
            if not first:
                self._reconnects += 1
            first = False
            try:
                source = self._open()
            except Exception as e:
                if not self._live or isinstance(e, (ConfigError, PermanentSourceError)):  # retrying cannot fix it
                    self._finish(e)
                    return
                self._set_state(RETRYING, str(e))
                log.warning("camera unavailable, retrying in %.1f s: %s", delay, e)
                self._stop.wait(delay)
                delay = min(delay * 2, self._backoff[1])
                continue
            self._set_state(OK if self._live else REPLAY)
            if self._live and self._reconnects:
                log.info("camera open again after %d reopenings", self._reconnects)
            try:
                self._pump(source)
                if not self._live:
                    self._finish(None)
                    return
                if not self._stop.is_set():
                    self._set_state(LOST, "camera stopped delivering frames")
                    log.warning("camera stream ended; reopening")
            except Exception as e:
                if not self._live:
                    self._finish(e)
                    return
                if not self._stop.is_set():
                    self._set_state(LOST, str(e))
                    log.warning("camera lost: %s", e)
            finally:
                try:
                    source.close()
                except Exception as e:  # a dying camera may fail to close too
                    log.debug("closing source: %s", e)
            if self._pumped:
                delay = self._backoff[0]  # it worked for a while: start the backoff afresh
            if not self._stop.is_set():
                self._stop.wait(delay)
                delay = min(delay * 2, self._backoff[1])
        if not self._ended:
            self._finish(None)

    def _pump(self, source: FrameSource) -> int:
        """Push frames until the source ends or stop(); renumber so indices never repeat."""
        self._pumped = 0
        last = -1
        try:
            for frame in source.frames():
                if self._stop.is_set():
                    break
                last = frame.index
                self._push(Frame(frame.image, frame.t_ns, self._index_offset + frame.index))
                self._pumped += 1
        finally:
            self._index_offset += last + 1
        return self._pumped

    def _finish(self, error: BaseException | None) -> None:
        with self._cond:
            self.error = error
            if error is not None:
                self._last_error = str(error)
                log.error("source ended: %s", error)
            self._ended = True
            if not self._live:
                self._state = ENDED
            elif error is not None:
                self._state = FAILED
            self._cond.notify_all()
