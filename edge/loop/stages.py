"""Ordered stages on threads: each item goes through every stage in turn, items come out in the
order they went in, and nothing handed over is lost.

Each stage is one thread reading a bounded FIFO queue, so a stage sees items strictly in order
and may keep state from one item to the next (the landmark tracker tracks from its own last
output). Different stages work on different items at once: while stage 1 tracks frame n+1,
stage 2 spots frame n. LiteRT's `invoke()`, OpenCV and large numpy operations release the GIL,
so the stages really run on separate cores.

At most `depth` items are in flight: `put` blocks while the stages are that far behind, which
is the back-pressure a bounded capture queue needs (and a stage that hangs stops the caller,
so a watchdog fed by the caller stops too). An exception in a stage travels with its item: the
items before it come out as usual, then the exception is raised to the caller, and the items
after it are not processed (as in a serial loop, where the exception ends the loop).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

_STOP = object()


class StageError(RuntimeError):
    """Raised by the caller's side for a stage that failed; the stage's own exception is the cause."""


class OrderError(RuntimeError):
    """An item came out of the stages out of order (a bug, never expected)."""


@dataclass(slots=True)
class Slot:
    """One item on its way through the stages."""

    seq: int
    value: Any
    put_ns: int  # monotonic, when it was handed over
    error: BaseException | None = None
    stage: str = ""  # the stage that failed
    cpu_ns: list[int] = field(default_factory=list)  # per stage: the stage thread's CPU time on this item
    wall_ns: list[int] = field(default_factory=list)  # per stage: wall time on this item
    switched: list[bool] = field(default_factory=list)  # per stage: its thread was switched out meanwhile


@dataclass(frozen=True, slots=True)
class Stage:
    name: str
    run: Callable[[Any], Any]  # item -> item for the next stage


def _switches() -> int:
    import resource

    r = resource.getrusage(resource.RUSAGE_THREAD)
    return r.ru_nvcsw + r.ru_nivcsw


class OrderedStages:
    """Items through `stages`, one thread per stage; `put` hands one over, `take`/`drain` return
    finished slots in order."""

    def __init__(self, stages: Sequence[Stage], depth: int = 4, name: str = "stage",
                 measure: bool = False) -> None:
        if not stages:
            raise ValueError("OrderedStages: no stages")
        if depth < 1:
            raise ValueError(f"OrderedStages: depth must be at least 1, got {depth}")
        self.stages = list(stages)
        self.depth = depth
        self.measure = measure
        self._queues: list[queue.Queue[Any]] = [queue.Queue() for _ in range(len(stages) + 1)]
        self._pending: deque[tuple[int, int]] = deque()  # (seq, put_ns) handed over, not yet taken
        self._seq = 0
        self._next_out = 0
        self._closed = False
        self._failed: Slot | None = None
        self._fail_seq = float("inf")  # the first failed item: items after it are passed on unprocessed
        self._fail_lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._work, args=(i,), name=f"{name}-{s.name}", daemon=True)
            for i, s in enumerate(self.stages)
        ]
        for t in self._threads:
            t.start()

    # -- the stage threads ------------------------------------------------------------

    def _work(self, i: int) -> None:
        stage, inbox, outbox = self.stages[i], self._queues[i], self._queues[i + 1]
        while True:
            slot = inbox.get()
            if slot is _STOP:
                outbox.put(_STOP)
                return
            if slot.error is None and slot.seq < self._fail_seq:
                if self.measure:
                    c0, w0, s0 = time.thread_time_ns(), time.monotonic_ns(), _switches()
                try:
                    slot.value = stage.run(slot.value)
                except BaseException as e:  # carried to the caller in order, never swallowed
                    slot.error, slot.stage = e, stage.name
                    with self._fail_lock:
                        self._fail_seq = min(self._fail_seq, slot.seq)  # no stage starts a later item now
                if self.measure:
                    slot.cpu_ns.append(time.thread_time_ns() - c0)
                    slot.wall_ns.append(time.monotonic_ns() - w0)
                    slot.switched.append(_switches() != s0)
            outbox.put(slot)

    # -- the caller's side ------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def oldest_pending_s(self) -> float:
        """How long the oldest item handed over has been on its way (0 when none is): a hung stage grows it."""
        if not self._pending:
            return 0.0
        return (time.monotonic_ns() - self._pending[0][1]) / 1e9

    def put(self, value: Any, timeout: float | None = None) -> list[Slot]:
        """Hand one item over, blocking while `depth` are in flight (TimeoutError after `timeout` s,
        if given), and return the slots finished meanwhile, in order."""
        if self._closed:
            raise RuntimeError("OrderedStages: put after close")
        done = self.take()
        while len(self._pending) >= self.depth:
            more = self.take(block=True, timeout=timeout)
            if not more and len(self._pending) >= self.depth:
                raise TimeoutError("OrderedStages: the stages did not make room in time")
            done.extend(more)
        now = time.monotonic_ns()
        self._pending.append((self._seq, now))
        self._queues[0].put(Slot(self._seq, value, now))
        self._seq += 1
        return done

    def take(self, block: bool = False, timeout: float | None = None) -> list[Slot]:
        """Finished slots in order: what is there now, or (block) at least one if any is in flight.

        A failed item ends the list: the slots before it are returned, and its StageError is
        raised by the next call (at once if there were none)."""
        self._raise_failure()
        out: list[Slot] = []
        last = self._queues[-1]
        while self._pending and self._failed is None:
            try:
                slot = last.get(block=block and not out, timeout=timeout)
            except queue.Empty:
                break
            if slot is _STOP:
                raise RuntimeError("OrderedStages: the stages stopped with items in flight")
            if slot.seq != self._next_out:
                raise OrderError(f"item {slot.seq} came out where {self._next_out} was due")
            self._next_out += 1
            self._pending.popleft()
            if slot.error is not None:
                self._failed = slot
                break
            out.append(slot)
        if not out:
            self._raise_failure()
        return out

    def _raise_failure(self) -> None:
        slot = self._failed
        if slot is not None and slot.error is not None:
            raise StageError(f"stage {slot.stage} failed on item {slot.seq}: {slot.error!r}") from slot.error

    def drain(self) -> list[Slot]:
        """Every item handed over, finished, in order (a failure: see `take`)."""
        out: list[Slot] = []
        while self._pending and self._failed is None:
            out.extend(self.take(block=True))
        if not out:
            self._raise_failure()
        return out

    def close(self, drain: bool = True) -> list[Slot]:
        """Finish what was handed over (unless a stage failed or `drain` is False), then stop the threads."""
        if self._closed:
            return []
        out: list[Slot] = []
        try:
            if drain and self._failed is None:
                out = self.drain()  # a failure met here is raised by the next call, after these
        finally:
            self._closed = True
            self._queues[0].put(_STOP)
            for t in self._threads:
                t.join(timeout=5.0)
                if t.is_alive():
                    log.error("%s did not stop within 5 s (a hung stage)", t.name)
        return out
