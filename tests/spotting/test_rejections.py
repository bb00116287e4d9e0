"""The records of what the spotter let go (rejections.py): `beside` keeps the unjudged parts of an excursion."""

from __future__ import annotations

from dataclasses import dataclass

from edge.spotting.rejections import Rejection, beside, overlapping


@dataclass
class S:
    index: int
    score: float


def frames(scores: list[float], first_index: int = 100) -> list[S]:
    return [S(first_index + i, s) for i, s in enumerate(scores)]


def test_beside_records_each_flank_that_crossed_the_threshold_on_its_own() -> None:
    # 2 pre-roll frames, then a bump to 9 (frames 102-105), then the judged candidate 106-110, then 12 at 111.
    f = frames([1, 2, 7, 9, 8, 6, 7, 14, 21, 14, 8, 12, 3])
    got = beside(f, first=2, on=6, off=10, threshold=7.0)
    assert got == [Rejection("merged", 102, 103, 105, round(9 / 7, 2)),
                   Rejection("merged", 111, 111, 112, round(12 / 7, 2))]


def test_beside_leaves_out_flanks_under_the_threshold_and_empty_ones() -> None:
    f = frames([1, 2, 6.9, 5, 14, 21, 14, 3])
    assert beside(f, first=2, on=4, off=7, threshold=7.0) == []  # before: under 7; after: nothing
    # The pre-roll never counts, however high it is (it was below the threshold when it was taken).
    assert beside(frames([9, 9, 14, 21]), first=2, on=2, off=3, threshold=7.0) == []


def test_a_merged_record_explains_a_miss_over_its_frames() -> None:
    f = frames([1, 2, 7, 9, 8, 6, 7, 14, 21, 14, 8, 3])
    got = beside(f, first=2, on=6, off=10, threshold=7.0)
    assert [r.reason for r in overlapping(got, 101, 104)] == ["merged"]
    assert overlapping(got, 106, 110) == []
