"""The whole device pipeline on generated annotated footage, scored with the MEGC protocol.

`pytest -m hil` replays the clips; add `--camera webcam:0` or `--camera picamera2` on a
Raspberry Pi with a display in front of its camera to watch them live instead.
"""

from __future__ import annotations

import pytest

from edge.evaluation.metrics import score

pytestmark = [pytest.mark.hil, pytest.mark.slow]


def test_spots_clean_expressions(synth_expressions_clip, observe):
    r = synth_expressions_clip
    s = score(r.rows, observe(r))
    o = s.overall
    assert o.recall >= 0.6 and o.precision >= 0.6, s.as_dict()
    # Emotion naming on what was spotted beats chance (1 in 7).
    assert s.recognition.n >= 2 and s.recognition.accuracy > 1 / 7, s.recognition.as_dict()


def test_spots_expressions_in_an_interview_with_distractors(interview_clip, observe):
    r = interview_clip
    s = score(r.rows, observe(r))
    assert s.overall.f1 >= 0.4, s.as_dict()


def test_no_false_alarms_on_neutral_footage_with_blinks_head_motion_and_talking(synth_neutral_distractors_clip, observe):
    r = synth_neutral_distractors_clip
    predictions = observe(r)
    assert len(predictions) <= 1, [(p.onset, p.offset, p.type, p.emotion) for p in predictions]
