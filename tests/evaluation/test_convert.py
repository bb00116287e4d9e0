"""Dataset sheet converters (CAS(ME)^2, SAMM-LV) to the annotation CSV."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.evaluation.convert import convert
from edge.events.annotations import (
    Annotation,
    AnnotationError,
    read_annotations,
    write_annotations,
)

SAMM = """SAMM Long Videos,,,,,,,,,
Release 3,,,,,,,,,
,,,,,,,,,
Subject,Filename,Inducement Code,Onset,Apex,Offset,Duration,Type,Action Units,Notes
006,006_1_1,1,5562,5588,5632,71,Macro,AU4+AU7,
006,006_1_2,1,6114,-1,6190,77,Micro - 1/2,AU12(B)+R14,
007,007_3_1,3,101,120,150,50,Micro - 1/2,L12,
"""

CASME2 = """1,anger1_1,557,572,608,4+R10,others,macro-expression,anger
1,disgust1_3,1420,1426,1434,4,disgust,micro-expression,disgust
15,happy1_2,90,0,110,6+12,happiness,macro-expression,happy
"""


def test_samm_long_videos(tmp_path: Path):
    sheet = tmp_path / "samm.csv"
    sheet.write_text(SAMM)
    rows = convert("samm-lv", sheet, "{subject}/{code}.mkv", first_frame=1)
    assert rows == [
        Annotation("006/006_1.mkv", 5561, 5587, 5631, "macro", "", "4+7"),
        Annotation("006/006_1.mkv", 6113, 6151, 6189, "micro", "", "12B+R14"),  # missing apex -> midpoint
        Annotation("007/007_3.mkv", 100, 119, 149, "micro", "", "L12"),
    ]
    out = tmp_path / "gt.csv"
    write_annotations(out, rows)
    assert read_annotations(out) == rows  # the converted CSV passes the strict reader


def test_casme2(tmp_path: Path):
    sheet = tmp_path / "casme2.csv"
    sheet.write_text(CASME2)
    rows = convert("casme2", sheet, "s{subject}/{code}.mkv", first_frame=1)
    assert rows[0] == Annotation("s1/anger1.mkv", 556, 571, 607, "macro", "", "4+R10")  # 'others' is not one of the seven
    assert rows[1] == Annotation("s1/disgust1.mkv", 1419, 1425, 1433, "micro", "disgust", "4")
    assert rows[2].apex == (89 + 109) // 2 and rows[2].emotion == "happiness"


def test_bad_sheets(tmp_path: Path):
    sheet = tmp_path / "s.csv"
    sheet.write_text("Subject,Name\n1,2\n")
    with pytest.raises(AnnotationError, match="no SAMM-LV header row"):
        convert("samm-lv", sheet)
    sheet.write_text("1,anger1_1,x,572,608,4,anger,macro-expression,anger\n")
    with pytest.raises(AnnotationError, match=r"s\.csv:1: onset is not a frame number"):
        convert("casme2", sheet)
    sheet.write_text("1,anger1_1,5,6,7,4,anger,flash,anger\n")
    with pytest.raises(AnnotationError, match="unknown expression type 'flash'"):
        convert("casme2", sheet)
    with pytest.raises(AnnotationError, match="unknown sheet format"):
        convert("casme3", sheet)


def test_cli_convert(tmp_path: Path, capsys):
    from edge.cli.main import main

    sheet = tmp_path / "samm.csv"
    sheet.write_text(SAMM)
    out = tmp_path / "gt.csv"
    assert main(["eval", "--convert", "samm-lv", str(sheet), "--annotations", str(out)]) == 0
    assert "3 rows (2 micro)" in capsys.readouterr().out
    assert [r.video for r in read_annotations(out)] == ["006_1.mkv", "006_1.mkv", "007_3.mkv"]
