"""The annotation CSV: ground truth and predictions alike, for one or many videos.

Header ``video,onset,apex,offset,type,emotion,aus`` with an optional trailing
``note`` (what the annotator saw, for real footage). ``video`` is a file name
relative to the CSV; ``onset``, ``apex``, ``offset`` are 0-based inclusive frame
indices; ``type`` is micro or macro; ``emotion`` one of the seven or empty;
``aus`` like ``6+12`` or ``R12+R14`` (may be empty). Blinks are not rows.

The ranges file (``video,kind,start,end,note``) marks stretches of real footage
that are not clean neutral face: talking, hidden, turned, no_face.

The reader is strict because a silently skipped row changes every score: any
malformed row raises InputError naming the file, the line and the reason.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterator
from dataclasses import astuple, dataclass
from pathlib import Path

from edge.errors import InputError
from edge.events.record import EMOTIONS, EVENT_TYPES

HEADER: tuple[str, ...] = ("video", "onset", "apex", "offset", "type", "emotion", "aus")
NOTE_HEADER: tuple[str, ...] = HEADER + ("note",)
RANGES_HEADER: tuple[str, ...] = ("video", "kind", "start", "end", "note")
RANGE_KINDS: tuple[str, ...] = ("talking", "hidden", "turned", "no_face")
_AUS_RE = re.compile(r"^(AU)?[RL]?\d{1,2}[A-E]?(\+(AU)?[RL]?\d{1,2}[A-E]?)*$")


class AnnotationError(InputError):
    """A malformed annotation file or row."""


@dataclass(frozen=True, slots=True)
class Annotation:
    """One expression interval in one video."""

    video: str
    onset: int
    apex: int
    offset: int
    type: str  # micro | macro
    emotion: str = ""  # one of EMOTIONS, or "" when unknown
    aus: str = ""  # e.g. "6+12", "R12+R14"
    note: str = ""  # free text from an annotator; never scored

    @property
    def length(self) -> int:
        """Frames from onset to offset, inclusive."""
        return self.offset - self.onset + 1


@dataclass(frozen=True, slots=True)
class Range:
    """A stretch of one video (frames inclusive) that is not clean neutral face: talking, hidden, turned, no_face."""

    video: str
    kind: str
    start: int
    end: int
    note: str = ""


def _int_field(value: str, name: str, where: str) -> int:
    try:
        v = int(value.strip())
    except ValueError:
        raise AnnotationError(f"{where}: {name} must be a whole frame index, got {value!r}") from None
    if v < 0:
        raise AnnotationError(f"{where}: {name} must be 0 or more, got {v}")
    return v


def parse_row(fields: list[str], where: str, header: tuple[str, ...] = HEADER) -> Annotation:
    """One data row -> Annotation; `where` is 'file:line' for the error message; `header` says if a note follows."""
    if len(fields) != len(header):
        raise AnnotationError(f"{where}: expected {len(header)} fields ({','.join(header)}), got {len(fields)}")
    video, onset_s, apex_s, offset_s, typ, emotion, aus = (f.strip() for f in fields[: len(HEADER)])
    note = fields[len(HEADER)].strip() if len(fields) > len(HEADER) else ""
    if not video:
        raise AnnotationError(f"{where}: video is empty")
    onset = _int_field(onset_s, "onset", where)
    apex = _int_field(apex_s, "apex", where)
    offset = _int_field(offset_s, "offset", where)
    if not onset <= apex <= offset:
        raise AnnotationError(f"{where}: need onset <= apex <= offset, got {onset}, {apex}, {offset}")
    if typ not in EVENT_TYPES:
        raise AnnotationError(f"{where}: unknown type {typ!r} (expected micro or macro)")
    if emotion and emotion not in EMOTIONS:
        raise AnnotationError(f"{where}: unknown emotion {emotion!r} (expected one of {', '.join(EMOTIONS)} or empty)")
    if aus and not _AUS_RE.match(aus):
        raise AnnotationError(f"{where}: malformed aus {aus!r} (expected e.g. 6+12 or R12+R14)")
    return Annotation(video, onset, apex, offset, typ, emotion, aus, note)


def _read_text(p: Path, what: str) -> str:
    try:
        return p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise AnnotationError(f"{p}: {what} not found") from None
    except IsADirectoryError:
        raise AnnotationError(f"{p}: is a directory, not a CSV ({what})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise AnnotationError(f"{p}: cannot read {what} ({e})") from None


def _data_rows(
    p: Path, text: str, headers: tuple[tuple[str, ...], ...], what: str
) -> Iterator[tuple[tuple[str, ...], list[str], str]]:
    """(header, fields, 'file:line') for each non-blank data row, once the header is one of `headers`."""
    reader = csv.reader(io.StringIO(text))
    header: tuple[str, ...] | None = None
    for fields in reader:
        if not fields or all(not f.strip() for f in fields):
            continue
        where = f"{p}:{reader.line_num}"
        if header is None:
            got = tuple(f.strip() for f in fields)
            if got not in headers:
                extra = "".join(f" (or with {','.join(h[len(headers[0]):])} after it)" for h in headers[1:])
                raise AnnotationError(f"{where}: header must be {','.join(headers[0])}, got {','.join(got)}{extra}")
            header = got
            continue
        yield header, fields, where
    if header is None:
        raise AnnotationError(f"{p}: empty {what} (no header {','.join(headers[0])})")


def read_annotations(path: str | os.PathLike[str]) -> list[Annotation]:
    """Every row of an annotation CSV (7 columns, or 8 with a note), in file order.

    Raises AnnotationError on the first bad line.
    """
    p = Path(path)
    rows = _data_rows(p, _read_text(p, "annotation file"), (HEADER, NOTE_HEADER), "annotation file")
    return [parse_row(fields, where, header) for header, fields, where in rows]


def parse_range(fields: list[str], where: str) -> Range:
    """One ranges row -> Range; `where` is 'file:line' for the error message."""
    if len(fields) != len(RANGES_HEADER):
        raise AnnotationError(f"{where}: expected {len(RANGES_HEADER)} fields ({','.join(RANGES_HEADER)}), got {len(fields)}")
    video, kind, start_s, end_s, note = (f.strip() for f in fields)
    if not video:
        raise AnnotationError(f"{where}: video is empty")
    if kind not in RANGE_KINDS:
        raise AnnotationError(f"{where}: unknown kind {kind!r} (expected one of {', '.join(RANGE_KINDS)})")
    start = _int_field(start_s, "start", where)
    end = _int_field(end_s, "end", where)
    if start > end:
        raise AnnotationError(f"{where}: need start <= end, got {start}, {end}")
    return Range(video, kind, start, end, note)


def read_ranges(path: str | os.PathLike[str]) -> list[Range]:
    """Every row of a ranges CSV (video,kind,start,end,note), in file order; strict like read_annotations."""
    p = Path(path)
    rows = _data_rows(p, _read_text(p, "ranges file"), (RANGES_HEADER,), "ranges file")
    return [parse_range(fields, where) for _, fields, where in rows]


def write_annotations(path: str | os.PathLike[str], rows: list[Annotation]) -> None:
    """Write rows with the header (the note column only when a row has a note); atomically."""
    p = Path(path)
    noted = any(r.note for r in rows)
    header = NOTE_HEADER if noted else HEADER
    tmp = p.with_name(p.name + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        for r in rows:
            w.writerow(astuple(r)[: len(header)])
    os.replace(tmp, p)


def by_video(rows: list[Annotation]) -> dict[str, list[Annotation]]:
    """Rows grouped by video name, each group sorted by onset."""
    out: dict[str, list[Annotation]] = {}
    for r in rows:
        out.setdefault(r.video, []).append(r)
    for v in out.values():
        v.sort(key=lambda a: (a.onset, a.offset))
    return out
