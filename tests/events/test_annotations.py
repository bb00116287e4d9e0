"""The annotation CSV: round trip, and a clear file:line reason for every kind of bad row."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.errors import InputError
from edge.events.annotations import (
    HEADER,
    Annotation,
    AnnotationError,
    by_video,
    read_annotations,
    write_annotations,
)

GOOD = "video,onset,apex,offset,type,emotion,aus\n"


def test_round_trip(tmp_path: Path):
    rows = [
        Annotation("a.mp4", 10, 14, 30, "micro", "happiness", "6+12"),
        Annotation("a.mp4", 100, 150, 300, "macro", "", ""),
        Annotation("sub/b.mp4", 0, 0, 0, "micro", "contempt", "R12+R14"),
    ]
    p = tmp_path / "gt.csv"
    write_annotations(p, rows)
    assert p.read_text().splitlines()[0] == ",".join(HEADER)
    assert read_annotations(p) == rows
    assert [r.onset for r in by_video(rows)["a.mp4"]] == [10, 100]
    assert rows[0].length == 21


def test_blank_lines_bom_and_spaces_are_tolerated(tmp_path: Path):
    p = tmp_path / "gt.csv"
    p.write_bytes(("\ufeff" + GOOD + "\n a.mp4 , 1 , 2 , 3 , micro , fear , 1+2+4\n\n").encode())
    assert read_annotations(p) == [Annotation("a.mp4", 1, 2, 3, "micro", "fear", "1+2+4")]


@pytest.mark.parametrize(
    "row, reason",
    [
        ("a.mp4,1,2,3,micro,fear", "expected 7 fields"),
        ("a.mp4,1,2,3,micro,fear,1,extra", "expected 7 fields"),
        ("a.mp4,x,2,3,micro,fear,1", "onset must be a whole frame index"),
        ("a.mp4,1,2.5,3,micro,fear,1", "apex must be a whole frame index"),
        ("a.mp4,-1,2,3,micro,fear,1", "onset must be 0 or more"),
        ("a.mp4,5,2,3,micro,fear,1", "need onset <= apex <= offset"),
        ("a.mp4,1,4,3,micro,fear,1", "need onset <= apex <= offset"),
        ("a.mp4,1,2,3,tiny,fear,1", "unknown type 'tiny'"),
        ("a.mp4,1,2,3,micro,joy,1", "unknown emotion 'joy'"),
        ("a.mp4,1,2,3,micro,fear,6 and 12", "malformed aus"),
        (",1,2,3,micro,fear,1", "video is empty"),
    ],
)
def test_bad_rows_name_file_line_and_reason(tmp_path: Path, row: str, reason: str):
    p = tmp_path / "gt.csv"
    p.write_text(GOOD + "a.mp4,0,1,2,micro,,\n" + row + "\n")
    with pytest.raises(AnnotationError) as e:
        read_annotations(p)
    msg = str(e.value)
    assert msg.startswith(f"{p}:3: ")
    assert reason in msg
    assert "\n" not in msg
    assert isinstance(e.value, InputError)


def test_header_that_differs(tmp_path: Path):
    p = tmp_path / "gt.csv"
    p.write_text("video,start,apex,end,type,emotion,aus\na.mp4,1,2,3,micro,,\n")
    with pytest.raises(AnnotationError, match=r"gt\.csv:1: header must be video,onset,apex,offset,type,emotion,aus, got video,start"):
        read_annotations(p)


def test_missing_empty_and_directory(tmp_path: Path):
    with pytest.raises(AnnotationError, match="annotation file not found"):
        read_annotations(tmp_path / "nope.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(AnnotationError, match="empty annotation file"):
        read_annotations(tmp_path / "empty.csv")
    with pytest.raises(AnnotationError, match="is a directory"):
        read_annotations(tmp_path)


def test_header_only_is_no_rows(tmp_path: Path):
    p = tmp_path / "gt.csv"
    p.write_text(GOOD)
    assert read_annotations(p) == []


def test_writer_leaves_no_partial_file(tmp_path: Path):
    p = tmp_path / "gt.csv"
    write_annotations(p, [Annotation("a.mp4", 1, 2, 3, "micro")])
    assert sorted(x.name for x in tmp_path.iterdir()) == ["gt.csv"]
