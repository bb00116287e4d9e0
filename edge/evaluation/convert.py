"""Converters from the public long-video datasets' annotation sheets to the annotation CSV.

The datasets are licensed and never bundled; a lab that holds them exports the
first sheet of the workbook to CSV (any spreadsheet program) and converts it:

* ``casme2`` -- CAS(ME)^2 ``CAS(ME)^2code_final(Updated).xlsx`` (Qu et al., IEEE T-AFFC
  9(4), 2018): no header; columns participant, video name with expression number
  (``anger1_1``), onset, apex, offset, AUs, estimated emotion, expression type
  (``macro-expression`` / ``micro-expression``), self-reported emotion. 30 fps.
* ``samm-lv`` -- SAMM Long Videos ``SAMM_LongVideos_V3_Release.xlsx`` (Yap et al.,
  FG 2020): a preamble, then a header row ``Subject, Filename, Inducement Code,
  Onset, Apex, Offset, Duration, Type, Action Units, Notes``; Filename
  ``006_1_2`` is video ``006_1``, expression 2; Type ``Micro - 1/2`` or ``Macro``. 200 fps.

Frame numbers in both sheets are image numbers of the frame sequences; the
first image's number (``first_frame``) becomes index 0. Image sequences become
videos with e.g. ``ffmpeg -framerate 200 -start_number 1 -i %04d.jpg -c:v ffv1 006_1.mkv``
(lossless). A missing apex (0 or -1) becomes the interval's midpoint, as the MEGC
baselines do. Emotions outside the seven (``positive``, ``others``...) are left empty.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from edge.events.annotations import Annotation, AnnotationError
from edge.events.record import EMOTIONS

FORMATS = ("casme2", "samm-lv")
_AU_TOKEN = re.compile(r"^(?:AU)?([RL]?)(\d{1,2})([A-E]?)$", re.IGNORECASE)


def _aus(text: str) -> str:
    """'AU4+AU7', '4, 7', 'R12+R14', '12B' -> '4+7', 'R12+R14', '12B'; unreadable tokens are dropped."""
    out = []
    for token in re.split(r"[+,;/\s]+", text.strip()):
        m = _AU_TOKEN.match(re.sub(r"[()\[\]]", "", token))
        if m:
            out.append(f"{m.group(1).upper()}{int(m.group(2))}{m.group(3).upper()}")
    return "+".join(out)


def _frame(value: str, where: str, what: str) -> int:
    try:
        return int(float(value))
    except ValueError:
        raise AnnotationError(f"{where}: {what} is not a frame number: {value!r}") from None


def _row(video: str, onset: int, apex: int, offset: int, typ: str, emotion: str, aus: str, first: int, where: str) -> Annotation:
    if apex <= 0 or not onset <= apex <= offset:
        apex = (onset + offset) // 2
    onset, apex, offset = onset - first, apex - first, offset - first
    if onset < 0 or offset < onset:
        raise AnnotationError(f"{where}: frames {onset + first}..{offset + first} do not form an interval from frame {first}")
    emotion = emotion.strip().lower()
    return Annotation(video, onset, apex, offset, typ, emotion if emotion in EMOTIONS else "", _aus(aus))


def convert(fmt: str, sheet: Path, video_pattern: str = "", first_frame: int = 1) -> list[Annotation]:
    """Rows of a dataset sheet exported as CSV -> annotation rows.

    `video_pattern` names each video from ``{subject}`` and ``{code}`` (default ``{code}.mkv``).
    """
    if fmt not in FORMATS:
        raise AnnotationError(f"unknown sheet format {fmt!r}; choose {' or '.join(FORMATS)}")
    try:
        text = sheet.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise AnnotationError(f"{sheet}: cannot read sheet ({e})") from None
    pattern = video_pattern or "{code}.mkv"
    reader = csv.reader(io.StringIO(text))
    rows: list[Annotation] = []
    header_seen = fmt == "casme2"
    for fields in reader:
        where = f"{sheet}:{reader.line_num}"
        cells = [c.strip() for c in fields]
        if not any(cells):
            continue
        if not header_seen:
            header_seen = len(cells) > 5 and cells[1].lower() == "filename" and cells[3].lower() == "onset"
            continue
        if fmt == "casme2":
            if len(cells) < 8:
                raise AnnotationError(f"{where}: expected 9 CAS(ME)^2 columns, got {len(cells)}")
            subject, name = cells[0], cells[1]
            code = name.rsplit("_", 1)[0]
            kind = cells[7].lower()
            typ = "micro" if kind.startswith("micro") else "macro" if kind.startswith("macro") else ""
            onset, apex, offset = (_frame(cells[i], where, n) for i, n in ((2, "onset"), (3, "apex"), (4, "offset")))
            emotion, aus = cells[6], cells[5]
        else:
            if len(cells) < 9:
                raise AnnotationError(f"{where}: expected 10 SAMM-LV columns, got {len(cells)}")
            subject, name = cells[0], cells[1]
            code = "_".join(name.split("_")[:2])
            kind = cells[7].lower()
            typ = "micro" if kind.startswith("micro") else "macro" if kind.startswith("macro") else ""
            onset, apex, offset = (_frame(cells[i], where, n) for i, n in ((3, "onset"), (4, "apex"), (5, "offset")))
            emotion, aus = "", cells[8]
        if not typ:
            raise AnnotationError(f"{where}: unknown expression type {kind!r}")
        video = pattern.format(subject=subject, code=code, name=name)
        rows.append(_row(video, onset, apex, offset, typ, emotion, aus, first_frame, where))
    if not header_seen:
        raise AnnotationError(f"{sheet}: no SAMM-LV header row (Subject, Filename, Inducement Code, Onset, ...)")
    return rows
