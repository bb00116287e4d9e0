"""`microexpr eval`: scores as JSON or a table, a timeline plot, and one clear line + exit 2 on bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from edge.cli.main import main

HEADER = "video,onset,apex,offset,type,emotion,aus\n"


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory, synth_footage) -> Path:
    """A folder with one 6 s, 30 fps generated clip (180 frames) and its annotations."""
    r = synth_footage(seed=8, fps=30.0, duration_s=6.0, micro=1, macro=0, width=320, height=240, face_size=120,
                      distractors=False, name="small")
    d = tmp_path_factory.mktemp("evalclip")
    shutil.copy(r.video, d / r.video.name)
    shutil.copy(r.annotations, d / "gt.csv")
    return d


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_predictions_json_table_and_plot(clip_dir: Path, tmp_path: Path, capsys):
    gt = clip_dir / "gt.csv"
    truth = gt.read_text().splitlines()[1].split(",")
    onset, apex, offset = (int(x) for x in truth[1:4])
    pred = tmp_path / "pred.csv"
    pred.write_text(HEADER + f"small.mp4,{onset},{apex},{offset},micro,{truth[5]},\n"
                             f"small.mp4,150,160,170,micro,anger,\n")
    code, out, err = run(["eval", "--predictions", str(pred), "--annotations", str(gt), "--json",
                          "--plot", str(tmp_path / "t.png")], capsys)
    assert code == 0, err
    d = json.loads(out)
    assert d["micro"] == {"tp": 1, "fp": 1, "fn": 0, "precision": 0.5, "recall": 1.0, "f1": 0.6667}
    assert d["macro"]["tp"] == 0 and d["overall"]["tp"] == 1
    assert d["recognition"]["n"] == 1 and d["recognition"]["accuracy"] == 1.0
    assert d["videos"] == 1 and d["frames"] == 180
    # 180 frames at 30 fps are 0.1 min: the one false micro event is 10 a minute.
    assert d["minutes"] == 0.1 and d["false_micro_per_min"] == 10.0
    assert len(d["recognition"]["confusion"]) == 8
    png = (tmp_path / "t.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000

    code, out, err = run(["eval", "--predictions", str(pred), "--annotations", str(gt)], capsys)
    assert code == 0
    assert "micro" in out and "0.667" in out and "recognition over 1 matched" in out
    assert "false micro events: 1 in 0.10 min of footage, 10.00 a minute" in out

    # A miss says what was over it; from a CSV the spotter's rejections are not known (null, not "none").
    pred.write_text(HEADER + f"small.mp4,{onset + 1},{onset + 1},{onset + 1},micro,anger,\n")
    code, out, err = run(["eval", "--predictions", str(pred), "--annotations", str(gt), "--json"], capsys)
    (fn,) = json.loads(out)["false_negatives"]
    assert (fn["onset"], fn["rejected"]) == (onset, None) and [p["onset"] for p in fn["predicted"]] == [onset + 1]
    code, out, err = run(["eval", "--predictions", str(pred), "--annotations", str(gt)], capsys)
    assert f"predicted {onset + 1}-{onset + 1}" in out.splitlines()[-1] and "rejections not known" in out


def _bad(capsys, argv: list[str]) -> str:
    code, out, err = run(argv, capsys)
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("microexpr eval: ")
    return lines[0]


def test_missing_video_named_by_the_csv(clip_dir: Path, tmp_path: Path, capsys):
    d = tmp_path / "footage"
    d.mkdir()
    shutil.copy(clip_dir / "small.mp4", d / "small.mp4")
    (d / "gt.csv").write_text(HEADER + "small.mp4,10,12,14,micro,fear,\nmissing.mp4,1,2,3,micro,,\n")
    line = _bad(capsys, ["eval", str(d), "--annotations", str(d / "gt.csv")])
    assert "missing.mp4" in line and "not found" in line


def test_frame_index_beyond_the_video(clip_dir: Path, tmp_path: Path, capsys):
    gt = tmp_path / "gt.csv"
    shutil.copy(clip_dir / "small.mp4", tmp_path / "small.mp4")
    gt.write_text(HEADER + "small.mp4,170,175,185,micro,fear,\n")
    line = _bad(capsys, ["eval", str(tmp_path), "--annotations", str(gt)])
    assert "offset 185 is beyond the video's last frame 179" in line
    pred = tmp_path / "pred.csv"
    pred.write_text(HEADER + "small.mp4,170,175,185,micro,fear,\n")
    gt.write_text(HEADER + "small.mp4,10,12,14,micro,fear,\n")
    line = _bad(capsys, ["eval", "--predictions", str(pred), "--annotations", str(gt)])
    assert "pred.csv" in line and "beyond the video's last frame 179" in line


@pytest.mark.parametrize(
    "content, reason",
    [
        (HEADER + "small.mp4,10,12,14,micro,joy,\n", "gt.csv:2: unknown emotion 'joy'"),
        (HEADER + "small.mp4,10,12,14,nano,fear,\n", "gt.csv:2: unknown type 'nano'"),
        ("video,start,apex,end,type,emotion,aus\n", "gt.csv:1: header must be video,onset,apex,offset,type,emotion,aus"),
    ],
)
def test_malformed_annotations(clip_dir: Path, tmp_path: Path, capsys, content: str, reason: str):
    gt = tmp_path / "gt.csv"
    gt.write_text(content)
    shutil.copy(clip_dir / "small.mp4", tmp_path / "small.mp4")
    assert reason in _bad(capsys, ["eval", str(tmp_path), "--annotations", str(gt)])
    pred = tmp_path / "pred.csv"
    pred.write_text(HEADER)
    assert reason in _bad(capsys, ["eval", "--predictions", str(pred), "--annotations", str(gt)])


def test_predictions_for_an_unannotated_video(clip_dir: Path, tmp_path: Path, capsys):
    pred = tmp_path / "pred.csv"
    pred.write_text(HEADER + "other.mp4,1,2,3,micro,,\n")
    line = _bad(capsys, ["eval", "--predictions", str(pred), "--annotations", str(clip_dir / "gt.csv")])
    assert "other.mp4" in line


def test_nothing_to_score(clip_dir: Path, capsys):
    line = _bad(capsys, ["eval", "--annotations", str(clip_dir / "gt.csv")])
    assert "nothing to score" in line
