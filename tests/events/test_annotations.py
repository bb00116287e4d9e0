"""The annotation CSV: round trip, and a clear file:line reason for every kind of bad row."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.errors import InputError
from edge.events.annotations import (
    HEADER,
    NOTE_HEADER,
    RANGE_KINDS,
    Annotation,
    AnnotationError,
    Range,
    by_video,
    read_annotations,
    read_ranges,
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


# --- Real footage: the annotators' note column and the ranges file ----------------------------------

NOTED = "video,onset,apex,offset,type,emotion,aus,note\n"


def test_note_column_is_read_and_kept(tmp_path: Path):
    p = tmp_path / "clip.csv"
    p.write_text(NOTED + 'a.mp4,30,41,60,macro,happiness,6+12,"broad smile, teeth; not talking"\na.mp4,90,92,95,micro,,,\n')
    rows = read_annotations(p)
    assert rows == [Annotation("a.mp4", 30, 41, 60, "macro", "happiness", "6+12", "broad smile, teeth; not talking"),
                    Annotation("a.mp4", 90, 92, 95, "micro", "", "", "")]
    out = tmp_path / "out.csv"
    write_annotations(out, rows)
    assert out.read_text().splitlines()[0] == ",".join(NOTE_HEADER)
    assert read_annotations(out) == rows


def test_writer_keeps_seven_columns_without_notes(tmp_path: Path):
    p = tmp_path / "gt.csv"
    write_annotations(p, [Annotation("a.mp4", 1, 2, 3, "micro", "fear", "1+2+4")])
    assert p.read_text() == GOOD + "a.mp4,1,2,3,micro,fear,1+2+4\n"


def test_noted_file_with_a_seven_field_row(tmp_path: Path):
    p = tmp_path / "clip.csv"
    p.write_text(NOTED + "a.mp4,1,2,3,micro,,\n")
    with pytest.raises(AnnotationError, match=r"clip\.csv:2: expected 8 fields \(video,onset,apex,offset,type,emotion,aus,note\), got 7"):
        read_annotations(p)


def test_header_with_another_extra_column(tmp_path: Path):
    p = tmp_path / "clip.csv"
    p.write_text("video,onset,apex,offset,type,emotion,aus,comment\n")
    with pytest.raises(AnnotationError, match=r"clip\.csv:1: header must be video,onset,apex,offset,type,emotion,aus, "
                                              r"got .*,comment \(or with note after it\)"):
        read_annotations(p)


RANGES = "video,kind,start,end,note\n"


def test_ranges_are_read(tmp_path: Path):
    p = tmp_path / "clip.ranges.csv"
    p.write_text(RANGES + 'a.mp4,talking,0,120,"answers a question"\n\na.mp4,hidden,58,227,hand over mouth\na.mp4,no_face,300,300,\n')
    assert read_ranges(p) == [Range("a.mp4", "talking", 0, 120, "answers a question"),
                              Range("a.mp4", "hidden", 58, 227, "hand over mouth"), Range("a.mp4", "no_face", 300, 300, "")]
    assert [r.kind for r in read_ranges(p)] == ["talking", "hidden", "no_face"]
    assert set(RANGE_KINDS) == {"talking", "hidden", "turned", "no_face"}


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("a.mp4,laughing,1,2,", r":2: unknown kind 'laughing' \(expected one of talking, hidden, turned, no_face\)"),
        ("a.mp4,talking,9,2,", r":2: need start <= end, got 9, 2"),
        ("a.mp4,talking,-1,2,", r":2: start must be 0 or more, got -1"),
        ("a.mp4,talking,1.5,2,", r":2: start must be a whole frame index, got '1.5'"),
        ("a.mp4,talking,1,2", r":2: expected 5 fields \(video,kind,start,end,note\), got 4"),
        (",talking,1,2,", r":2: video is empty"),
    ],
)
def test_bad_range_rows(tmp_path: Path, row: str, reason: str):
    p = tmp_path / "clip.ranges.csv"
    p.write_text(RANGES + row + "\n")
    with pytest.raises(AnnotationError, match=r"clip\.ranges\.csv" + reason):
        read_ranges(p)


def test_ranges_header_missing_and_empty(tmp_path: Path):
    p = tmp_path / "clip.ranges.csv"
    p.write_text("video,kind,from,to,note\n")
    with pytest.raises(AnnotationError, match=r":1: header must be video,kind,start,end,note, got video,kind,from,to,note$"):
        read_ranges(p)
    p.write_text("")
    with pytest.raises(AnnotationError, match="empty ranges file"):
        read_ranges(p)
    with pytest.raises(AnnotationError, match="ranges file not found"):
        read_ranges(tmp_path / "nope.ranges.csv")
