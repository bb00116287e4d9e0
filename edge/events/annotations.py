"""The annotation CSV: ground truth and predictions alike, for one or many videos.

Header ``video,onset,apex,offset,type,emotion,aus``. ``video`` is a file name
relative to the CSV; ``onset``, ``apex``, ``offset`` are 0-based inclusive frame
indices; ``type`` is micro or macro; ``emotion`` one of the seven or empty;
``aus`` like ``6+12`` or ``R12+R14`` (may be empty). Blinks are not rows.

The reader is strict because a silently skipped row changes every score: any
malformed row raises InputError naming the file, the line and the reason.
"""

from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import astuple, dataclass
from pathlib import Path

from edge.errors import InputError
from edge.events.record import EMOTIONS, EVENT_TYPES

HEADER: tuple[str, ...] = ("video", "onset", "apex", "offset", "type", "emotion", "aus")
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

    @property
    def length(self) -> int:
        """Frames from onset to offset, inclusive."""
        return self.offset - self.onset + 1


def _int_field(value: str, name: str, where: str) -> int:
    try:
        v = int(value.strip())
    except ValueError:
        raise AnnotationError(f"{where}: {name} must be a whole frame index, got {value!r}") from None
    if v < 0:
        raise AnnotationError(f"{where}: {name} must be 0 or more, got {v}")
    return v


def parse_row(fields: list[str], where: str) -> Annotation:
    """One data row -> Annotation; `where` is 'file:line' for the error message."""
    if len(fields) != len(HEADER):
        raise AnnotationError(f"{where}: expected {len(HEADER)} fields ({','.join(HEADER)}), got {len(fields)}")
    video, onset_s, apex_s, offset_s, typ, emotion, aus = (f.strip() for f in fields)
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
    return Annotation(video, onset, apex, offset, typ, emotion, aus)


def read_annotations(path: str | os.PathLike[str]) -> list[Annotation]:
    """Every row of an annotation CSV, in file order. Raises AnnotationError on the first bad line."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise AnnotationError(f"{p}: annotation file not found") from None
    except IsADirectoryError:
        raise AnnotationError(f"{p}: is a directory, not an annotation CSV") from None
    except (OSError, UnicodeDecodeError) as e:
        raise AnnotationError(f"{p}: cannot read annotation file ({e})") from None
    reader = csv.reader(io.StringIO(text))
    rows: list[Annotation] = []
    header_seen = False
    for fields in reader:
        line = reader.line_num
        if not fields or all(not f.strip() for f in fields):
            continue
        if not header_seen:
            got = tuple(f.strip() for f in fields)
            if got != HEADER:
                raise AnnotationError(f"{p}:{line}: header must be {','.join(HEADER)}, got {','.join(got)}")
            header_seen = True
            continue
        rows.append(parse_row(fields, f"{p}:{line}"))
    if not header_seen:
        raise AnnotationError(f"{p}: empty annotation file (no header {','.join(HEADER)})")
    return rows


def write_annotations(path: str | os.PathLike[str], rows: list[Annotation]) -> None:
    """Write rows with the header; atomically, so a crash never leaves half a file."""
    p = Path(path)
    tmp = p.with_name(p.name + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(HEADER)
        for r in rows:
            w.writerow(astuple(r))
    os.replace(tmp, p)


def by_video(rows: list[Annotation]) -> dict[str, list[Annotation]]:
    """Rows grouped by video name, each group sorted by onset."""
    out: dict[str, list[Annotation]] = {}
    for r in rows:
        out.setdefault(r.video, []).append(r)
    for v in out.values():
        v.sort(key=lambda a: (a.onset, a.offset))
    return out
