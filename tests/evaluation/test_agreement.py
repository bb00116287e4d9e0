"""Two runs of the same footage compared frame by frame (score, gate flags) and event by event."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edge.evaluation.agreement import SCORE_FLOOR, agreement, compare, lines, pairs
from edge.events.annotations import Annotation
from edge.spotting.reading import Reading


def run(scores: list[float], blink: set[int] = frozenset(), talking: set[int] = frozenset(),
        first: int = 0) -> list[Reading]:
    return [Reading(first + i, s, first + i in blink, first + i in talking, False) for i, s in enumerate(scores)]


def ev(onset: int, offset: int, video: str = "a.mp4") -> Annotation:
    return Annotation(video, onset, (onset + offset) // 2, offset, "macro", "", "")


def test_identical_runs_agree_completely():
    a = run([0.0, 0.0, 2.0, 5.0, 9.0, 3.0, 1.0])
    g = agreement("a.mp4", pairs(a, list(a)), [ev(2, 5)], [ev(2, 5)])
    assert g.frames == 7 and g.score_log_ratio == 0.0 and g.score_log_ratio_flags_equal == 0.0
    assert g.score_correlation == pytest.approx(1.0)
    assert g.flags_differ == {"blink": 0.0, "talking": 0.0, "lids_down": 0.0}
    assert (g.events_a, g.events_b, g.events_same, g.events_kept) == (1, 1, 1, 1.0)


def test_a_score_twice_as_high_is_a_log_ratio_of_ln2_and_unscored_frames_do_not_count():
    rng = np.random.default_rng(1)
    s = list(rng.uniform(1.0, 10.0, 50))
    a = run([0.0] * 10 + s)  # the first ten frames: no neutral yet in either run
    b = run([0.0] * 10 + [2 * x for x in s])
    g = agreement("a.mp4", pairs(a, b), [], [])
    assert g.score_log_ratio == pytest.approx(math.log(2))
    assert g.score_correlation == pytest.approx(1.0)  # proportional: the same shape, another scale
    assert g.events_kept is None  # no event in A to keep


def test_gate_flags_that_differ_are_counted_per_gate_and_split_the_ratio():
    a = run([4.0] * 10, blink={2, 3})
    b = run([4.0] * 8 + [8.0, 8.0], blink={2, 3, 4}, talking={8, 9})
    g = agreement("a.mp4", pairs(a, b), [], [])
    assert g.flags_differ["blink"] == pytest.approx(0.1) and g.flags_differ["talking"] == pytest.approx(0.2)
    assert g.flags_differ["lids_down"] == 0.0
    # 7 frames agree on every flag, all with equal scores; over all 10 the median is still 0.
    assert g.score_log_ratio_flags_equal == 0.0 and g.score_log_ratio == 0.0


def test_frames_pair_by_index_and_a_frame_only_one_run_measured_is_left_out():
    a = run([3.0, 3.0, 3.0, 3.0])  # frames 0-3
    b = run([3.0, 6.0, 6.0], first=1)  # frames 1-3 (the face found a frame later)
    p = pairs(a, b)
    assert [(x.index, y.index) for x, y in p] == [(1, 1), (2, 2), (3, 3)]
    g = agreement("a.mp4", p, [], [])
    assert g.frames == 3 and g.score_log_ratio == pytest.approx(math.log(2))
    assert SCORE_FLOOR > 0  # a score of 0 against 0.05 is not an infinite ratio
    g0 = agreement("a.mp4", pairs(run([0.0, 0.05]), run([0.05, 0.0])), [], [])
    assert g0.score_log_ratio is None and g0.score_correlation is None


def test_events_match_one_to_one_at_iou_03_per_clip():
    a = [ev(100, 199), ev(400, 499), ev(100, 199, "b.mp4")]
    b = [ev(150, 249), ev(430, 460), ev(100, 199, "c.mp4")]  # 0.33 kept; 0.31 kept; b.mp4's lost
    d = compare(["a.mp4", "b.mp4"], a, {"a.mp4": run([1.0] * 3)}, b, {"a.mp4": run([1.0] * 3)})
    by = {c["video"]: c for c in d["clips"]}
    assert (by["a.mp4"]["events_same"], by["a.mp4"]["events_a"], by["a.mp4"]["events_b"]) == (2, 2, 2)
    assert (by["b.mp4"]["events_same"], by["b.mp4"]["events_a"], by["b.mp4"]["events_b"]) == (0, 1, 0)
    assert by["b.mp4"]["frames"] == 0 and by["b.mp4"]["score_log_ratio"] is None
    t = d["total"]
    assert (t["events_same"], t["events_a"], t["events_b"], t["events_kept"]) == (2, 3, 2, 0.667)
    assert t["frames"] == 3
    text = "\n".join(lines(d, "the clips as fetched", "reencode"))
    assert "agreement of reencode with the clips as fetched" in text
    assert any(x.startswith("b.mp4") and x.split()[1] == "0" for x in text.splitlines())


def test_pooled_frames_of_different_clips_never_pair_up():
    ra = {"a.mp4": run([2.0] * 5), "b.mp4": run([2.0] * 5)}
    rb = {"a.mp4": run([2.0] * 5), "b.mp4": run([4.0] * 5)}
    t = compare(["a.mp4", "b.mp4"], [], ra, [], rb)["total"]
    assert t["frames"] == 10
    # half the frames agree exactly, half are twice as high: the median sits between (numpy: their mean)
    assert t["score_log_ratio"] == pytest.approx(round(math.log(2) / 2, 3))
