"""MEGC metrics against hand-worked cases."""

from __future__ import annotations

import pytest

from edge.evaluation.metrics import iou, match_intervals, recognition, score
from edge.events.annotations import Annotation


def a(onset: int, offset: int, typ: str = "micro", emotion: str = "", video: str = "v.mp4") -> Annotation:
    return Annotation(video, onset, (onset + offset) // 2, offset, typ, emotion, "")


def test_iou_counts_frames_inclusively():
    assert iou(a(0, 9), a(0, 9)) == 1.0
    assert iou(a(0, 9), a(0, 4)) == 0.5  # 5 of 10 frames
    assert iou(a(0, 11), a(4, 15)) == 0.5  # 8 shared of 16
    assert iou(a(0, 9), a(10, 19)) == 0.0  # adjacent, no shared frame
    assert iou(a(0, 9), a(9, 18)) == pytest.approx(1 / 19)


def test_iou_exactly_half_is_a_true_positive():
    s = score([a(0, 11)], [a(4, 15)])
    assert (s.micro.tp, s.micro.fp, s.micro.fn) == (1, 0, 0)
    assert s.matches[0].iou == 0.5


def test_iou_just_under_half_is_a_miss_and_a_false_alarm():
    s = score([a(0, 9)], [a(0, 3)])  # 4 of 10 frames = 0.4
    assert (s.micro.tp, s.micro.fp, s.micro.fn) == (0, 1, 1)
    assert s.micro.precision == 0.0 and s.micro.recall == 0.0 and s.micro.f1 == 0.0


def test_one_prediction_over_two_truths_matches_only_one():
    truths = [a(0, 9), a(10, 19)]
    s = score(truths, [a(0, 19)])  # IoU 0.5 with each
    assert (s.micro.tp, s.micro.fp, s.micro.fn) == (1, 0, 1)
    assert s.micro.precision == 1.0 and s.micro.recall == 0.5
    assert s.micro.f1 == pytest.approx(2 / 3)


def test_two_predictions_on_one_truth_one_is_a_false_positive():
    s = score([a(0, 9)], [a(0, 9), a(0, 8)])
    assert (s.micro.tp, s.micro.fp, s.micro.fn) == (1, 1, 0)
    assert s.matches[0].prediction == a(0, 9)  # the higher IoU wins


def test_matching_maximises_the_number_of_matches():
    # Greedy by IoU would pair P with A (IoU 1.0) and leave B unmatched; the maximum matching pairs P-B and Q-A.
    A, B = a(0, 9), a(2, 11)
    P, Q = a(0, 9, emotion="fear"), a(0, 5)
    assert iou(P, A) == 1.0 and iou(P, B) == pytest.approx(8 / 12) and iou(Q, A) == 0.6 and iou(Q, B) < 0.5
    m = match_intervals([A, B], [P, Q])
    assert {(x.truth, x.prediction) for x in m} == {(A, Q), (B, P)}


def test_empty_predictions():
    s = score([a(0, 9), a(20, 29), a(40, 49, "macro")], [])
    assert (s.micro.tp, s.micro.fp, s.micro.fn) == (0, 0, 2)
    assert (s.macro.tp, s.macro.fp, s.macro.fn) == (0, 0, 1)
    assert s.overall.fn == 3 and s.overall.f1 == 0.0
    assert s.recognition.n == 0


def test_empty_truth():
    s = score([], [a(0, 9), a(20, 29, "macro")])
    assert (s.overall.tp, s.overall.fp, s.overall.fn) == (0, 2, 0)
    assert s.overall.precision == 0.0 and s.overall.recall == 0.0 and s.overall.f1 == 0.0


def test_both_empty_is_all_zero():
    d = score([], []).as_dict()
    assert d["overall"] == {"tp": 0, "fp": 0, "fn": 0, "precision": 0.0, "recall": 0.0, "f1": 0.0}


def test_type_mismatch_never_matches():
    s = score([a(0, 9, "micro")], [a(0, 9, "macro")])
    assert (s.micro.tp, s.micro.fn, s.macro.fp) == (0, 1, 1)
    assert s.overall.tp == 0


def test_other_video_never_matches():
    s = score([a(0, 9, video="x.mp4")], [a(0, 9, video="y.mp4")])
    assert (s.overall.tp, s.overall.fp, s.overall.fn) == (0, 1, 1)


def test_overall_sums_micro_and_macro():
    truths = [a(0, 9), a(20, 29), a(100, 199, "macro")]
    preds = [a(0, 9), a(50, 59), a(110, 199, "macro"), a(300, 399, "macro")]
    s = score(truths, preds)
    assert (s.micro.tp, s.micro.fp, s.micro.fn) == (1, 1, 1)
    assert (s.macro.tp, s.macro.fp, s.macro.fn) == (1, 1, 0)
    o = s.overall
    assert (o.tp, o.fp, o.fn) == (2, 2, 1)
    assert o.precision == 0.5 and o.recall == pytest.approx(2 / 3) and o.f1 == pytest.approx(4 / 7)


def test_recognition_hand_worked():
    r = recognition([("happiness", "happiness"), ("happiness", "sadness"), ("sadness", "sadness"), ("anger", "")])
    assert r.n == 4
    assert r.accuracy == 0.5
    # happiness F1 2/3 recall 1/2; sadness F1 2/3 recall 1; anger F1 0 recall 0
    assert r.uf1 == pytest.approx((2 / 3 + 2 / 3 + 0) / 3)
    assert r.uar == pytest.approx((0.5 + 1 + 0) / 3)
    lab = r.labels
    assert r.confusion[lab.index("happiness")][lab.index("sadness")] == 1
    assert r.confusion[lab.index("anger")][lab.index("")] == 1
    assert sum(map(sum, r.confusion)) == 4


def test_recognition_uses_matched_micro_true_positives_only():
    truths = [a(0, 9, emotion="fear"), a(20, 29, emotion="anger"), a(100, 199, "macro", emotion="happiness")]
    preds = [a(0, 9, emotion="fear"), a(60, 69, emotion="anger"), a(100, 199, "macro", emotion="sadness")]
    r = score(truths, preds).recognition
    assert r.n == 1 and r.accuracy == 1.0 and r.uf1 == 1.0 and r.uar == 1.0
