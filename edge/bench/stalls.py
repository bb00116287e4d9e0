"""Tell the host's stalls from the code's work in a real-time replay.

On a shared VM the hypervisor can take a vCPU away for tens of milliseconds. The guest
kernel does not see it: the analysis thread is never switched out and its CPU clock
(`CLOCK_THREAD_CPUTIME_ID`, which excludes stolen time) stands still while the wall clock
runs. So when a frame took longer on the wall clock than on the thread's CPU clock and the
thread had no context switch at all, something outside the process (the hypervisor, or
interrupts) held it up. Frames with a context switch keep their whole wall time: the thread
may have waited on the GIL, a lock or one of our other threads, and that is the code's cost.

`without_host_stalls` replays the measured frames with only those stalls taken out. Each
frame starts when it arrived (its due time, or later if the loop was seen waiting for it)
or when the previous frame finished, and takes its measured wall time less the stall. Any
frame still late is the code's doing. That includes a model that ran slower on the host's
busy CPU, which is counted as work.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

WAITED_MS = 0.2  # the loop asked for a frame this long before it got it: the frame arrived then


@dataclass(frozen=True)
class HostStalls:
    """The stalls of one replay and the latencies it would have had without them."""

    stalled_ms: float  # total wall time host stalls took from frames
    longest_ms: float  # the longest single stall
    frames: int  # frames that lost at least `min_ms` to a stall
    latency_ms: list[float]  # per frame: due -> processed, stalls taken out


def without_host_stalls(due_ms: Sequence[float], start_ms: Sequence[float], busy_ms: Sequence[float],
                        cpu_ms: Sequence[float], switched: Sequence[bool], min_ms: float = 0.5) -> HostStalls:
    """Per frame: due and hand-over times, wall and thread-CPU time, whether the thread was switched out.

    Gaps under `min_ms` per frame are clock granularity and cache misses, not stalls.
    """
    n = len(due_ms)
    if not n == len(start_ms) == len(busy_ms) == len(cpu_ms) == len(switched):
        raise ValueError("without_host_stalls: per-frame lists of different lengths")
    total = longest = 0.0
    frames = 0
    latency: list[float] = []
    free_at = float("-inf")  # when the loop would have been free, stalls removed
    for i in range(n):
        stall = busy_ms[i] - cpu_ms[i]
        if switched[i] or stall < min_ms:
            stall = 0.0
        else:
            total += stall
            longest = max(longest, stall)
            frames += 1
        real_free = start_ms[i - 1] + busy_ms[i - 1] if i else float("-inf")
        arrived = start_ms[i] if start_ms[i] - max(due_ms[i], real_free) > WAITED_MS else due_ms[i]
        free_at = max(arrived, free_at) + busy_ms[i] - stall
        latency.append(free_at - due_ms[i])
    return HostStalls(round(total, 3), round(longest, 3), frames, latency)
