"""Real-footage scoring, the annotation protocol's way: IoU >= 0.3 (and 0.5), don't care in the first second,
emotion where one of the seven is named, false micro events per minute overall and while talking."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edge.errors import InputError
from edge.cli.footage import table
from edge.evaluation.real import ClipTruth, score_clip, score_dict, total
from edge.events.annotations import Annotation, Range
from edge.spotting.rejections import Rejection

V = "clip.mp4"


def ann(onset: int, offset: int, typ: str = "macro", emotion: str = "") -> Annotation:
    return Annotation(V, onset, (onset + offset) // 2, offset, typ, emotion, "")


def truth(episodes: list[Annotation], ranges: list[Range] = (), frames: int = 1500, fps: float = 25.0) -> ClipTruth:
    return ClipTruth("clip", V, Path(V), frames, fps, list(episodes), list(ranges))


def test_iou_03_is_a_hit_05_is_reported_too():
    t = truth([ann(100, 199), ann(400, 499)])
    # 150-249 against 100-199: 50 / 150 = 0.33; 420-519 against 400-499: 80 / 120 = 0.67.
    s = score_clip(t, [ann(150, 249), ann(420, 519)])
    assert (s.episodes, s.hits, s.hits_strict, s.misses, s.false_alarms) == (2, 2, 1, 0, 0)
    assert s.recall == 1.0 and s.recall_strict == 0.5 and s.precision == 1.0
    # Below 0.3 (40 / 160 = 0.25) it is a miss and a false alarm.
    s = score_clip(t, [ann(160, 259)])
    assert (s.hits, s.misses, s.false_alarms, s.recall, s.precision) == (0, 2, 1, 0.0, 0.0)


def test_a_hit_whatever_the_type_and_one_to_one():
    t = truth([ann(100, 199, "macro")])
    s = score_clip(t, [ann(110, 120, "micro"), ann(100, 199, "macro")])
    assert (s.hits, s.false_alarms) == (1, 1)
    assert s.matches[0].prediction.onset == 100  # the better overlap takes the episode


def test_first_second_is_dont_care():
    # 25 fps: onset 24 is inside the first second, 25 is not.
    t = truth([ann(0, 80, emotion="sadness"), ann(24, 30), ann(25, 60)])
    s = score_clip(t, [ann(5, 30, "micro")])  # IoU 0.11 with 25-60: not a hit
    assert (s.episodes, s.dont_care, s.hits, s.misses, s.false_alarms, s.ignored) == (1, 2, 0, 1, 0, 1)
    assert s.precision is None and s.recall == 0.0
    assert s.false_micro == 0


def test_emotion_accuracy_only_where_one_of_the_seven_is_named():
    t = truth([ann(100, 199, emotion="happiness"), ann(300, 399, emotion="surprise"), ann(600, 699)])
    s = score_clip(t, [ann(100, 199, emotion="happiness"), ann(300, 399, emotion="fear"), ann(600, 699, emotion="anger")])
    assert s.hits == 3 and (s.emotion_n, s.emotion_correct, s.emotion_accuracy) == (2, 1, 0.5)


def test_false_micro_per_minute_overall_and_while_talking():
    # 1500 frames at 25 fps = 1 min; talking 0-374 and 300-749 overlap: 750 frames = 0.5 min.
    ranges = [Range(V, "talking", 0, 374), Range(V, "talking", 300, 749), Range(V, "hidden", 900, 1000)]
    t = truth([ann(1000, 1100)], ranges)
    preds = [ann(100, 105, "micro"), ann(1200, 1205, "micro"), ann(1300, 1400, "macro"), ann(1000, 1100, "micro")]
    s = score_clip(t, preds)
    assert (s.hits, s.false_alarms, s.false_micro, s.false_micro_talking) == (1, 3, 2, 1)
    assert s.talking_s == pytest.approx(30.0)
    assert s.false_micro_per_min == pytest.approx(2.0)
    assert s.false_micro_per_talking_min == pytest.approx(2.0)


def test_total_pools_clips_and_json_has_every_field():
    a = score_clip(truth([ann(100, 199)], [Range(V, "talking", 0, 1499)]), [ann(100, 199), ann(500, 505, "micro")])
    b = score_clip(truth([ann(100, 199), ann(300, 399)], frames=750), [])
    t = total([a, b])
    assert (t.episodes, t.hits, t.misses, t.false_alarms, t.frames) == (3, 1, 2, 1, 2250)
    assert t.recall == pytest.approx(1 / 3) and t.precision == 0.5
    assert t.seconds == pytest.approx(90.0) and t.false_micro_per_min == pytest.approx(1 / 1.5)
    assert t.false_micro_per_talking_min == pytest.approx(1.0)
    d = json.loads(json.dumps(score_dict([a, b])))
    assert d["protocol"] == {"iou_match": 0.3, "iou_strict": 0.5, "dont_care_s": 1.0}
    assert [c["hits"] for c in d["clips"]] == [1, 0] and d["total"]["misses"] == 2
    assert d["clips"][1]["precision"] is None and d["clips"][0]["false"][0]["onset"] == 500


def test_each_missed_episode_says_what_the_spotter_did_over_it():
    t = truth([ann(100, 199), ann(400, 499), ann(700, 799), ann(1000, 1099), ann(1300, 1320, "micro")])
    preds = [ann(100, 199), ann(480, 560, "micro")]  # 20 / 161 overlap with 400-499: a false alarm, not a hit
    rejected = [Rejection("blink", 90, 110, 120, 2.5),  # over the hit only: not listed anywhere
                Rejection("head_motion", 690, 720, 750, 1.8), Rejection("too_long", 760, 800, 900, 4.0),
                Rejection("merged", 1302, 1310, 1318, 1.3)]
    d = json.loads(json.dumps(score_dict([score_clip(t, preds, rejected)])))
    missed = {m["onset"]: m for m in d["clips"][0]["missed"]}
    assert sorted(missed) == [400, 700, 1000, 1300]
    assert [p["onset"] for p in missed[400]["predicted"]] == [480] and missed[400]["rejected"] == []
    assert [(r["reason"], r["onset"], r["peak"]) for r in missed[700]["rejected"]] == [("head_motion", 690, 1.8),
                                                                                    ("too_long", 760, 4.0)]
    assert missed[1000]["predicted"] == [] and missed[1000]["rejected"] == []
    lines = table(d).splitlines()
    why = {int(x.split()[1].split("-")[0]): x for x in lines[lines.index(
        "missed episodes, and what the spotter did over their frames:") + 1:]}
    assert "predicted 480-560" in why[400]
    assert "rejected as head_motion at 690-750 (peak 1.8x threshold at 720)" in why[700] and "too_long" in why[700]
    assert why[1000].endswith("no candidate: the score stayed under the threshold")
    # Over the threshold inside an excursion whose candidate was another apex: said, not "no candidate".
    assert why[1300].endswith("merged into a longer excursion judged at a higher apex: 1302-1318 left unjudged "
                              "(peak 1.3x threshold at 1310)"), why[1300]
    # Scored from a CSV, the spotter's rejections are not known: said so, not "no candidate".
    d = score_dict([score_clip(t, preds)])
    assert all(m["rejected"] is None for m in d["clips"][0]["missed"])
    assert "rejections not known" in table(d).splitlines()[-1]


# --- The command, on a real fetched clip with annotations written here ------------------------------


def score_cmd(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge", "footage", "score", *args], capture_output=True, text=True,
                          timeout=600)


def test_score_command_on_a_predictions_csv(tmp_path, single_face_annotated):
    pred = tmp_path / "pred.csv"
    pred.write_text("video,onset,apex,offset,type,emotion,aus\nsingle_face.mp4,38,50,71,macro,happiness,\n"
                    "single_face.mp4,10,11,12,micro,fear,\n")
    r = score_cmd("single_face", "--annotations", str(single_face_annotated), "--predictions", str(pred), "--json")
    assert r.returncode == 0, r.stderr
    c = json.loads(r.stdout)["clips"][0]
    assert (c["frames"], c["episodes"], c["hits"], c["false_alarms"], c["emotion_correct"]) == (72, 1, 1, 1, 1)
    assert c["false_micro_talking"] == 1 and c["talking_s"] == 1.0 and c["false_micro_per_talking_min"] == 60.0
    r = score_cmd("--annotations", str(single_face_annotated), "--predictions", str(pred))
    assert r.returncode == 0 and "single_face.mp4" in r.stdout and r.stdout.splitlines()[-1].startswith("all")


@pytest.mark.parametrize(
    ("file", "text", "needle"),
    [
        ("single_face.csv", "video,onset,apex,offset,type,emotion,aus\nsingle_face.mp4,60,65,72,macro,,\n",
         "single_face.mp4 frames 60-72: offset 72 is beyond the video's last frame 71"),
        ("single_face.ranges.csv", "video,kind,start,end,note\nsingle_face.mp4,talking,0,80,\n",
         "single_face.mp4 talking range 0-80: end 80 is beyond the video's last frame 71"),
        ("single_face.csv", "video,onset,apex,offset,type,emotion,aus\nfranck.mp4,1,2,3,micro,,\n",
         "row for video 'franck.mp4', but this file annotates clip single_face"),
    ],
)
def test_annotation_outside_the_clip_is_one_line_exit_2(single_face_annotated, file, text, needle):
    (single_face_annotated / file).write_text(text)
    r = score_cmd("single_face", "--annotations", str(single_face_annotated), "--predictions", "/nonexistent.csv")
    lines = [x for x in r.stderr.splitlines() if x.startswith("microexpr")]
    assert r.returncode == 2 and len(lines) == 1 and "Traceback" not in r.stderr
    assert needle in lines[0]


def test_predictions_beyond_the_clip_or_for_an_unknown_video(tmp_path, single_face_annotated):
    pred = tmp_path / "pred.csv"
    pred.write_text("video,onset,apex,offset,type,emotion,aus\nsingle_face.mp4,70,71,90,micro,,\n")
    r = score_cmd("single_face", "--annotations", str(single_face_annotated), "--predictions", str(pred))
    assert r.returncode == 2 and "offset 90 is beyond the video's last frame 71" in r.stderr
    pred.write_text("video,onset,apex,offset,type,emotion,aus\nother.mp4,1,2,3,micro,,\n")
    r = score_cmd("single_face", "--annotations", str(single_face_annotated), "--predictions", str(pred))
    assert r.returncode == 2 and "video 'other.mp4', which is not a clip in the footage manifest" in r.stderr


def test_score_runs_the_pipeline_on_the_clip(tmp_path, single_face_annotated):
    out = tmp_path / "pred.csv"
    r = score_cmd("single_face", "--annotations", str(single_face_annotated), "--json", "--save-predictions", str(out))
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    c = d["clips"][0]
    assert c["frames"] == 72 and c["episodes"] == 1 and c["predictions"] == len(out.read_text().splitlines()) - 1
    assert c["hits"] + c["misses"] == 1 and c["hits"] + c["false_alarms"] + c["ignored"] == c["predictions"]


def test_a_clip_annotated_in_parts(tmp_path, real_footage):
    from edge.evaluation.real import annotated_clips, load_truth

    d = tmp_path / "annotations"
    d.mkdir()
    head = "video,onset,apex,offset,type,emotion,aus,note\n"
    (d / "cap13_edit2.b.csv").write_text(head + "cap13_edit2.mp4,400,410,420,micro,,,\n")
    (d / "cap13_edit2.a.csv").write_text(head + "cap13_edit2.mp4,40,50,60,macro,happiness,6+12,\n")
    (d / "cap13_edit2.a.ranges.csv").write_text("video,kind,start,end,note\ncap13_edit2.mp4,talking,0,99,\n")
    assert annotated_clips(real_footage, d) == ["cap13_edit2"]
    t = load_truth(real_footage, "cap13_edit2", d)
    assert [a.onset for a in t.episodes] == [40, 400] and [r.end for r in t.ranges] == [99]
    # A whole-clip file, once merged, is read alone.
    (d / "cap13_edit2.csv").write_text(head + "cap13_edit2.mp4,100,110,120,micro,,,\n")
    t = load_truth(real_footage, "cap13_edit2", d)
    assert [a.onset for a in t.episodes] == [100] and t.ranges == []
    (d / "cap13_edit2.b.csv").write_text(head + "cap13_edit2.mp4,700,710,765,micro,,,\n")
    (d / "cap13_edit2.csv").unlink()
    with pytest.raises(InputError, match=r"cap13_edit2\.b\.csv: cap13_edit2.mp4 frames 700-765: offset 765 is beyond the video's last frame 764"):
        load_truth(real_footage, "cap13_edit2", d)


def test_score_without_any_annotation(tmp_path):
    (tmp_path / "empty").mkdir()
    r = score_cmd("--annotations", str(tmp_path / "empty"), "--predictions", "/nonexistent.csv")
    assert r.returncode == 2 and "no clip has annotations (STEM.csv) yet" in r.stderr
    r = score_cmd("franck", "--annotations", str(tmp_path / "empty"), "--predictions", "/nonexistent.csv")
    assert r.returncode == 2 and "franck.csv: no annotations for clip franck" in r.stderr
