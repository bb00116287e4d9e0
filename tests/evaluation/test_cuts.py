"""`footage score --cut LEAD`: every episode in a short clip of its own, scored on that episode alone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.errors import InputError
from edge.evaluation.cuts import cut_clip, cuts_of
from edge.evaluation.real import ClipTruth, score_clip
from edge.events.annotations import Annotation, Range

V = "talk.mp4"


def truth(frames: int = 400, fps: float = 25.0) -> ClipTruth:
    eps = [Annotation(V, 20, 25, 40, "macro", "surprise"),  # less than 1.2 s before it: no cut
           Annotation(V, 100, 110, 130, "macro", "happiness"),
           Annotation(V, 140, 150, 170, "micro", "anger"),  # inside the 100 cut's last second
           Annotation(V, 360, 380, 399, "macro", "sadness")]  # runs to the clip's end
    return ClipTruth("talk", V, Path("/nonexistent/talk.mp4"), frames, fps, eps, [Range(V, "talking", 60, 105)])


def test_one_cut_per_episode_with_enough_lead_and_only_that_episode_scored():
    cuts = cuts_of(truth(), 1.2)
    assert [(c.first, c.last) for c in cuts] == [(70, 155), (110, 195), (330, 399)]  # 30 frames before, 25 after
    first = cuts[0].truth
    assert first.video == "talk@100.mp4" and first.frames == 86
    assert [(a.onset, a.apex, a.offset, a.emotion) for a in first.episodes] == [(30, 40, 60, "happiness")]
    assert [(a.onset, a.offset) for a in first.others] == [(70, 85)]  # the anger micro, clipped to the cut
    assert [(r.start, r.end) for r in first.ranges] == [(0, 35)]  # the talking, clipped
    assert cuts[2].truth.episodes[0].offset == 69  # clipped at the clip's end


def test_a_prediction_on_another_episode_of_the_cut_is_no_false_alarm_and_the_own_one_counts_once():
    cut = cuts_of(truth(), 1.2)[0].truth
    on_other = Annotation(cut.video, 72, 75, 80, "micro", "anger")
    elsewhere = Annotation(cut.video, 5, 8, 12, "micro", "fear")
    s = score_clip(cut, [on_other, elsewhere])
    assert (s.episodes, s.hits, s.misses, s.false_alarms, s.ignored, s.false_micro) == (1, 0, 1, 1, 1, 1)
    hit = Annotation(cut.video, 31, 40, 58, "macro", "happiness")
    s = score_clip(cut, [hit])
    assert (s.hits, s.false_alarms, s.emotion_correct) == (1, 0, 1)


@pytest.mark.parametrize("lead", [1.0, 0.5, 31.0])
def test_a_lead_inside_the_first_second_or_past_half_a_minute_is_refused(lead):
    with pytest.raises(InputError, match=f"--cut {lead:g}: give seconds of lead-in over 1"):
        cuts_of(truth(), lead)


def frames_of(path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    out = []
    while True:
        ok, img = cap.read()
        if not ok:
            break
        out.append(img.astype(np.float32))
    cap.release()
    return out


def test_a_cut_holds_exactly_its_frames_of_the_source(tmp_path, real_footage):
    clip = real_footage.path("carphone_pristine")
    source = frames_of(clip)
    t = ClipTruth("carphone_pristine", "carphone_pristine.mp4", clip, len(source), 29.97,
                  [Annotation("carphone_pristine.mp4", 54, 59, 73, "macro", "surprise")], [])
    (cut,) = cuts_of(t, 1.5)
    assert (cut.first, cut.last) == (9, 103)
    frames = frames_of(cut_clip(cut, tmp_path))
    assert len(frames) == 95
    for k in (0, 20, 47, 70):  # each is its source frame (re-encoded at CRF 14), not a neighbour
        own = np.abs(frames[k] - source[cut.first + k]).mean()
        assert own < 2.5 and own < 0.6 * min(np.abs(frames[k] - source[cut.first + k + d]).mean() for d in (-1, 1))


def score_cmd(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge", "footage", "score", *args], capture_output=True, text=True,
                          timeout=600)


def test_score_with_cuts_and_bad_flags_are_one_line_exit_2(tmp_path, real_footage):
    r = score_cmd("carphone_pristine", "--cut", "1.2", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    names = [c["video"] for c in d["clips"]]
    assert names == ["carphone_pristine@54.mp4", "carphone_pristine@87.mp4", "carphone_pristine@101.mp4"]
    assert d["total"]["episodes"] == 3 and d["total"]["hits"] + d["total"]["misses"] == 3
    bad = ((("--cut", "0.5"), "--cut 0.5: give seconds of lead-in over 1"),
           (("--cut", "1.5", "--perturb", "dim"), "--perturb and --cut: give one of them"),
           (("--cut", "1.5", "--predictions", str(tmp_path / "p.csv")), "cannot score --predictions"),
           (("--cut", "20"), "--cut 20: no episode has that much footage before it"))
    for args, needle in bad:
        r = score_cmd("carphone_pristine", *args)
        lines = [x for x in r.stderr.splitlines() if x.startswith("microexpr")]
        assert r.returncode == 2 and len(lines) == 1 and needle in lines[0], r.stderr
