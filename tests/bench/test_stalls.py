"""Host stalls are told from the code's own work, and only they are taken out of the replay."""

from __future__ import annotations

import time

import numpy as np
import pytest

from edge.analysis import Analysis
from edge.bench.measure import Pass, _timed
from edge.bench.stalls import without_host_stalls
from edge.sources.frame import Frame

P = 1000 / 120  # frame period, ms


def replay(busy: list[float], cpu: list[float], switched: list[bool]) -> tuple[list[float], list[float]]:
    """Due and hand-over times of a loop that takes `busy` ms per frame, frames arriving on time."""
    due = [i * P for i in range(len(busy))]
    start, free = [], float("-inf")
    for d, b in zip(due, busy):
        start.append(max(d, free))
        free = start[-1] + b
    return due, start


def test_no_stall_reproduces_the_real_latencies():
    busy = [3.0, 12.0, 3.0, 3.0, 3.0, 9.0, 3.0]  # the code itself is slow twice
    due, start = replay(busy, busy, [False] * 7)
    r = without_host_stalls(due, start, busy, busy, [False] * 7)
    real = [s + b - d for s, b, d in zip(start, busy, due)]
    assert r.latency_ms == pytest.approx(real)
    assert r.stalled_ms == 0 and r.frames == 0 and r.longest_ms == 0
    assert [i for i, ms in enumerate(r.latency_ms) if ms > P] == [1, 5]  # frame 2 waits 3.7 ms and is in time


def test_a_stall_without_a_context_switch_is_the_hosts_and_is_taken_out():
    n = 20
    busy, cpu = [3.5] * n, [3.5] * n
    busy[4] = 33.5  # 30 ms on the wall clock the thread's CPU clock never saw
    due, start = replay(busy, cpu, [False] * n)
    real = [s + b - d for s, b, d in zip(start, busy, due)]
    assert [i for i, ms in enumerate(real) if ms > P] == [4, 5, 6, 7, 8, 9], "the stall and its backlog"
    r = without_host_stalls(due, start, busy, cpu, [False] * n)
    assert r.stalled_ms == pytest.approx(30.0) and r.longest_ms == pytest.approx(30.0) and r.frames == 1
    assert max(r.latency_ms) == pytest.approx(3.5)


def test_time_off_the_cpu_with_a_context_switch_stays_the_codes():
    n = 20
    busy, cpu = [3.5] * n, [3.5] * n
    busy[4] = 33.5  # e.g. waiting 30 ms on a lock or the GIL
    switched = [False] * n
    switched[4] = True
    due, start = replay(busy, cpu, switched)
    r = without_host_stalls(due, start, busy, cpu, switched)
    assert r.stalled_ms == 0
    assert [i for i, ms in enumerate(r.latency_ms) if ms > P] == [4, 5, 6, 7, 8, 9]


def test_a_frame_that_arrived_late_keeps_its_delivery_delay():
    busy = cpu = [3.0] * 4
    due = [0.0, P, 2 * P, 3 * P]
    start = [0.0, P + 10.0, P + 13.0, 3 * P]  # the loop waited 10 ms for frame 1 after it was due
    r = without_host_stalls(due, start, busy, cpu, [False] * 4)
    assert r.latency_ms[1] == pytest.approx(13.0), "a late delivery is not taken for a host stall"
    assert r.latency_ms[2] == pytest.approx(P + 16.0 - 2 * P), "and frame 2 still queues behind it"
    assert r.latency_ms[3] == pytest.approx(3.0)


def test_gaps_under_the_threshold_are_not_stalls():
    busy, cpu = [3.4, 3.5], [3.0, 3.5]
    due, start = replay(busy, cpu, [False, False])
    assert without_host_stalls(due, start, busy, cpu, [False, False]).frames == 0


def test_lists_must_match():
    with pytest.raises(ValueError, match="different lengths"):
        without_host_stalls([0.0], [0.0, 1.0], [1.0], [1.0], [False])


def test_the_replay_probe_counts_a_sleep_as_a_switch_and_cpu_work_as_cpu():
    """The real clocks: a 20 ms sleep is a voluntary switch with ~no CPU time; 20 ms of arithmetic is CPU time."""
    p = Pass(Analysis(source="probe"))
    now = time.monotonic_ns()
    frames = [Frame(np.zeros((2, 2, 3), np.uint8), now, 0), Frame(np.zeros((2, 2, 3), np.uint8), now, 1)]
    for i, _ in enumerate(_timed(frames, p, due_ns=True)):
        if i == 0:
            time.sleep(0.02)
        else:
            t = time.thread_time()
            while time.thread_time() - t < 0.02:
                pass
    assert p.switched[0] and p.cpu_ms[0] < 5 and p.busy_ms[0] >= 19
    assert p.cpu_ms[1] >= 19 and p.busy_ms[1] >= p.cpu_ms[1] - 0.1
    assert p.due_ms == [now / 1e6] * 2 and p.start_ms[0] <= p.start_ms[1]
    r = without_host_stalls(p.due_ms, p.start_ms, p.busy_ms, p.cpu_ms, p.switched)
    assert r.latency_ms[0] >= 19, "the sleep is the code's own wait and stays"
