"""The outbox's disk waits, taken off the analysis thread.

Every event is committed with an fsync (WAL, synchronous=FULL). On this VM that is
under 2 ms; on a Raspberry Pi's SD card a single fsync can take tens of
milliseconds, several frame periods at 120 fps, and the outbox's lock is also
held while the publisher marks deliveries. So the unit's loop never calls the
outbox itself: it hands events (and the few queries it needs: the running
session, health counts) to this writer thread, which runs them strictly in the
order given, and picks the answers up when they are ready.

An event is in memory for the milliseconds between hand-over and commit; a
failed commit (disk full with nothing left to evict, an I/O error) is retried
with backoff, never skipped, and `stop()` waits for the backlog.
"""

from __future__ import annotations

import collections
import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from edge.events.record import Event

log = logging.getLogger(__name__)

T = TypeVar("T")


class OutboxWriter:
    """One thread that owns every outbox call of the unit's loop, in submission order."""

    def __init__(
        self,
        outbox: Any,
        on_committed: Callable[[Event], None] | None = None,
        retry_s: tuple[float, float] = (0.1, 5.0),
        name: str = "outbox-writer",
    ) -> None:
        self.outbox = outbox
        self._on_committed = on_committed
        self._retry = retry_s
        self._jobs: collections.deque[tuple[Event | None, Callable[[Any], Any] | None, Future[Any] | None]] = (
            collections.deque()
        )
        self._cond = threading.Condition()
        self._stopping = False
        self._events_queued = 0
        self.committed = 0
        self.failures = 0  # commits that raised and were retried
        self.last_error = ""
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> "OutboxWriter":
        self._thread.start()
        return self

    # ---- from the unit's loop: never blocks ------------------------------------------

    def submit(self, event: Event) -> None:
        """Commit this event after everything handed over before it."""
        with self._cond:
            self._jobs.append((event, None, None))
            self._events_queued += 1
            self._cond.notify()

    def call(self, fn: Callable[[Any], T]) -> Future[T]:
        """Run `fn(outbox)` on the writer thread after everything handed over before it."""
        fut: Future[T] = Future()
        with self._cond:
            self._jobs.append((None, fn, fut))
            self._cond.notify()
        return fut

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    @property
    def backlog(self) -> int:
        """Events handed over and not committed yet."""
        with self._cond:
            return self._events_queued

    # ---- shutdown ----------------------------------------------------------------------

    def flush(self, timeout: float) -> bool:
        """Wait until everything handed over so far is done; False on timeout."""
        try:
            self.call(lambda _ob: None).result(timeout)
        except TimeoutError:
            return False
        return True

    def stop(self, timeout: float) -> bool:
        """Commit the backlog, then end the thread; False (and an error naming the backlog) on timeout."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.error("outbox writer: %d events still not committed after %.1f s (%s)", self.backlog, timeout,
                      self.last_error or "no error")
            return False
        return True

    # ---- the thread --------------------------------------------------------------------

    def _run(self) -> None:
        delay = self._retry[0]
        while True:
            with self._cond:
                while not self._jobs and not self._stopping:
                    self._cond.wait()
                if not self._jobs:
                    return
                event, fn, fut = self._jobs[0]
            if event is not None:
                if not self._commit(event):
                    time.sleep(delay)  # the job stays first in line
                    delay = min(self._retry[1], delay * 2)
                    continue
                delay = self._retry[0]
            elif fn is not None and fut is not None and fut.set_running_or_notify_cancel():
                try:
                    fut.set_result(fn(self.outbox))
                except BaseException as e:  # handed to whoever reads the future
                    fut.set_exception(e)
            with self._cond:
                self._jobs.popleft()
                if event is not None:
                    self._events_queued -= 1

    def _commit(self, event: Event) -> bool:
        """True once committed (or refused for good); False to retry."""
        try:
            self.outbox.put(event)
        except ValueError as e:  # a record the outbox can never take: keep it in the journal instead
            log.error("outbox refused event %s for good (%s): %s", event.id, e, json.dumps(event.to_dict()))
            return True
        except Exception as e:  # disk full with nothing left to evict, I/O error: retried, never skipped
            self.failures += 1
            if str(e) != self.last_error:
                log.error("outbox: cannot commit event %s, retrying: %s", event.id, e)
            self.last_error = str(e)
            return False
        self.committed += 1
        if self.last_error:
            log.info("outbox: commits work again after %d failed attempts", self.failures)
            self.last_error = ""
        if self._on_committed is not None:
            try:
                self._on_committed(event)
            except Exception:
                log.exception("after committing event %s", event.id)
        return True
