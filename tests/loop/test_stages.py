"""Ordered stages on threads: every item comes out once, in order, at shutdown and on a failure too."""

from __future__ import annotations

import random
import threading
import time

import pytest

from edge.loop.stages import OrderedStages, Stage, StageError


def _jitter(seed: int):
    rng = random.Random(seed)
    lock = threading.Lock()

    def sleep() -> None:
        with lock:
            s = rng.random() * 0.0005
        time.sleep(s)

    return sleep


def _tagging(name: str, seen: list[int], seed: int):
    """A stateful stage: records the order it sees items in and tags each with its name."""
    sleep = _jitter(seed)

    def run(item: tuple[int, tuple[str, ...]]) -> tuple[int, tuple[str, ...]]:
        sleep()
        seen.append(item[0])
        return item[0], (*item[1], name)

    return run


def test_every_item_comes_out_once_in_order_through_every_stage_including_at_close():
    seen_a: list[int] = []
    seen_b: list[int] = []
    stages = OrderedStages([Stage("a", _tagging("a", seen_a, 1)), Stage("b", _tagging("b", seen_b, 2))], depth=4)
    out = []
    for i in range(400):
        out.extend(stages.put((i, ())))
        assert stages.in_flight <= 4
    assert stages.in_flight > 0 or len(out) == 400  # some were still on their way at close
    out.extend(stages.close())
    assert [s.value[0] for s in out] == list(range(400))
    assert all(s.value[1] == ("a", "b") for s in out)
    assert seen_a == list(range(400)) and seen_b == list(range(400))  # each stage saw them in order
    assert [s.seq for s in out] == list(range(400))
    assert stages.close() == []  # idempotent


def test_a_failing_stage_delivers_the_items_before_it_then_raises_and_processes_none_after():
    seen_b: list[int] = []

    def a(item: int) -> int:
        if item == 37:
            raise ValueError("bad frame 37")
        return item

    def b(item: int) -> int:
        seen_b.append(item)
        return item

    stages = OrderedStages([Stage("a", a), Stage("b", b)], depth=6)
    out: list[int] = []
    with pytest.raises(StageError) as err:
        for i in range(100):
            out.extend(s.value for s in stages.put(i))
        out.extend(s.value for s in stages.drain())
    assert isinstance(err.value.__cause__, ValueError) and "stage a failed on item 37" in str(err.value)
    # What came out before the failure, possibly with more collected by close(): 0..36, in order, once each.
    out.extend(s.value for s in stages.close())
    assert out == list(range(37))
    assert 37 not in seen_b and all(x < 37 for x in seen_b)  # the failed item skipped the later stage
    with pytest.raises(StageError):
        stages.take()  # the failure stays visible


def test_a_failure_in_the_last_stage_at_the_very_end_is_raised_by_close():
    def last(item: int) -> int:
        if item == 9:
            raise RuntimeError("late")
        return item

    stages = OrderedStages([Stage("a", lambda x: x), Stage("b", last)], depth=20)
    got = [s.value for i in range(10) for s in stages.put(i)]
    got.extend(s.value for s in stages.close())
    assert got == list(range(9))
    with pytest.raises(StageError, match="item 9"):
        stages.take()


def test_put_blocks_while_depth_items_are_in_flight():
    gate = threading.Event()
    stages = OrderedStages([Stage("a", lambda x: (gate.wait(5), x)[1])], depth=3)
    for i in range(3):
        assert stages.put(i) == []
    assert stages.in_flight == 3
    with pytest.raises(TimeoutError):
        stages.put(3, timeout=0.1)  # a hung stage stops the caller instead of queueing without end
    assert stages.oldest_pending_s() >= 0.1
    gate.set()
    done = stages.put(3)
    assert [s.value for s in done] == [0] or [s.value for s in done][0] == 0
    rest = [s.value for s in done] + [s.value for s in stages.close()]
    assert rest == [0, 1, 2, 3]
    assert stages.oldest_pending_s() == 0.0
