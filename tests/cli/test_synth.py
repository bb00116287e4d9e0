"""`microexpr synth` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge.cli.main import main
from edge.events.annotations import read_annotations


def test_synth_writes_video_csv_and_manifest(tmp_path: Path, capsys):
    code = main(["synth", str(tmp_path), "--seed", "3", "--fps", "30", "--duration", "10", "--micro", "1", "--macro", "1", "--macro-ms", "600,1000",
                 "--size", "320x240", "--face-size", "120", "--identity", "hopper-mirror", "--emotions", "contempt"])
    out = capsys.readouterr().out
    assert code == 0
    video = tmp_path / "synth-hopper-mirror-s3-30fps.mp4"
    assert str(video) in out and video.stat().st_size > 10_000
    rows = read_annotations(tmp_path / "annotations.csv")
    assert [r.emotion for r in rows] == ["contempt", "contempt"]
    assert all(r.aus in ("R12+R14", "L12+L14") for r in rows)
    m = json.loads((tmp_path / "synth-hopper-mirror-s3-30fps.manifest.json").read_text())
    assert m["spec"]["identity"] == "hopper-mirror" and "mirrored" in m["identity"]["source"]
    assert m["spec"]["width"] == 320 and m["frames"] == 300


@pytest.mark.parametrize(
    "argv, reason",
    [
        (["--duration", "4", "--micro", "12"], "need at least"),
        (["--emotions", "joy"], "unknown emotion 'joy'"),
        (["--micro-ms", "100,900"], "micro expressions last 40..500 ms"),
        (["--size", "641x480"], "size must be even"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, capsys, argv: list[str], reason: str):
    code = main(["synth", str(tmp_path), *argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("microexpr synth: ") and reason in err[0]
    assert not list(tmp_path.glob("*.mp4"))


def test_unsupported_fps_is_refused_by_the_parser(tmp_path: Path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["synth", str(tmp_path), "--fps", "25"])
    assert e.value.code == 2
    assert "invalid choice: 25" in capsys.readouterr().err
