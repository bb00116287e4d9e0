"""Scores real footage the annotation protocol's way (/work/shared/annotation-protocol.md, docs/evaluation.md).

By-eye boundaries are approximate, so a prediction matches an episode at temporal
IoU >= 0.3 (IoU >= 0.5 is reported too), one to one, whatever the type: micro or
macro follows from the by-eye duration, and the question asked of real footage is
whether the expression was found. An episode whose onset lies in the clip's first
second is "don't care" (the spotter has no neutral baseline yet): not a miss, and
a prediction overlapping it is not a false alarm. False micro events (a micro
prediction that matches no episode) are counted per minute of the clip and per
minute of its talking ranges, where articulation is the nuisance to survive.
Given the spotter's rejections, each missed episode says what the spotter saw
there: the candidates it vetoed and why, or nothing (no candidate at all).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edge.errors import InputError
from edge.evaluation.harness import check_bounds, check_range_bounds, video_frames
from edge.evaluation.metrics import Match, match_intervals
from edge.evaluation.misses import explain
from edge.events.annotations import Annotation, AnnotationError, Range, read_annotations, read_ranges
from edge.events.record import EMOTIONS
from edge.footage import FootageManifest, verify
from edge.spotting.rejections import Rejection

log = logging.getLogger(__name__)

IOU_MATCH = 0.3
IOU_STRICT = 0.5
DONT_CARE_S = 1.0


@dataclass
class ClipTruth:
    """One fetched, verified clip with its episodes and ranges, all checked against its frame count."""

    name: str
    video: str  # the clip's file name, as the CSVs' video column names it
    path: Path
    frames: int
    fps: float
    episodes: list[Annotation]
    ranges: list[Range]
    others: list[Annotation] = field(default_factory=list)  # neither scored nor false alarms where overlapped (cuts.py)


@dataclass
class ClipScore:
    """Counts for one clip (or the sum over clips); rates are None where they are undefined."""

    video: str
    frames: int
    seconds: float
    episodes: int = 0  # scored episodes (don't care excluded)
    dont_care: int = 0
    predictions: int = 0
    hits: int = 0
    hits_strict: int = 0  # at IoU >= 0.5
    false_alarms: int = 0
    ignored: int = 0  # predictions that overlap a don't-care episode
    emotion_n: int = 0
    emotion_correct: int = 0
    false_micro: int = 0
    false_micro_talking: int = 0
    talking_s: float = 0.0
    matches: list[Match] = field(default_factory=list)
    missed: list[Annotation] = field(default_factory=list)
    false: list[Annotation] = field(default_factory=list)
    rejections: list[Rejection] | None = None  # the spotter's on this clip (None: not known, scored from a CSV)

    @property
    def misses(self) -> int:
        return self.episodes - self.hits

    @property
    def recall(self) -> float | None:
        return self.hits / self.episodes if self.episodes else None

    @property
    def recall_strict(self) -> float | None:
        return self.hits_strict / self.episodes if self.episodes else None

    @property
    def precision(self) -> float | None:
        return self.hits / (self.hits + self.false_alarms) if self.hits + self.false_alarms else None

    @property
    def emotion_accuracy(self) -> float | None:
        return self.emotion_correct / self.emotion_n if self.emotion_n else None

    @property
    def false_micro_per_min(self) -> float | None:
        return self.false_micro / (self.seconds / 60) if self.seconds > 0 else None

    @property
    def false_micro_per_talking_min(self) -> float | None:
        return self.false_micro_talking / (self.talking_s / 60) if self.talking_s > 0 else None

    def as_dict(self, details: bool = True) -> dict[str, Any]:
        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 4)

        d: dict[str, Any] = {
            "video": self.video, "frames": self.frames, "seconds": round(self.seconds, 2),
            "episodes": self.episodes, "dont_care": self.dont_care, "predictions": self.predictions,
            "hits": self.hits, "hits_iou50": self.hits_strict, "misses": self.misses,
            "false_alarms": self.false_alarms, "ignored": self.ignored,
            "recall": r(self.recall), "recall_iou50": r(self.recall_strict), "precision": r(self.precision),
            "emotion_n": self.emotion_n, "emotion_correct": self.emotion_correct,
            "emotion_accuracy": r(self.emotion_accuracy),
            "false_micro": self.false_micro, "false_micro_per_min": r(self.false_micro_per_min),
            "talking_s": round(self.talking_s, 2), "false_micro_talking": self.false_micro_talking,
            "false_micro_per_talking_min": r(self.false_micro_per_talking_min),
        }
        if details:
            d["matches"] = [{"truth": asdict(m.truth), "prediction": asdict(m.prediction), "iou": round(m.iou, 4)}
                            for m in self.matches]
            preds = [m.prediction for m in self.matches] + self.false
            d["missed"] = [explain(a, preds, self.rejections) for a in self.missed]
            d["false"] = [asdict(a) for a in self.false]
        return d


def _overlaps(a: Annotation, start: int, end: int) -> bool:
    return a.onset <= end and start <= a.offset


def _frames_in(ranges: list[Range]) -> int:
    """Frames covered by the union of the ranges."""
    covered: set[int] = set()
    for r in ranges:
        covered.update(range(r.start, r.end + 1))
    return len(covered)


def score_clip(truth: ClipTruth, preds: list[Annotation], rejections: list[Rejection] | None = None) -> ClipScore:
    """One clip's protocol score; `preds` are this clip's predictions, `rejections` the spotter's on it."""
    fps = truth.fps if truth.fps > 0 else 30.0
    first = DONT_CARE_S * fps
    cares = [a for a in truth.episodes if a.onset >= first]
    dont = [a for a in truth.episodes if a.onset < first] + truth.others
    talking = [r for r in truth.ranges if r.kind == "talking"]
    s = ClipScore(truth.video, truth.frames, truth.frames / fps, episodes=len(cares), dont_care=len(dont),
                  predictions=len(preds), talking_s=_frames_in(talking) / fps,
                  rejections=None if rejections is None else list(rejections))
    s.matches = match_intervals(cares, preds, IOU_MATCH)
    s.hits = len(s.matches)
    s.hits_strict = len(match_intervals(cares, preds, IOU_STRICT))
    matched_t = {id(m.truth) for m in s.matches}
    matched_p = {id(m.prediction) for m in s.matches}
    s.missed = [a for a in cares if id(a) not in matched_t]
    for p in preds:
        if id(p) in matched_p:
            continue
        if any(_overlaps(p, d.onset, d.offset) for d in dont):
            s.ignored += 1
            continue
        s.false.append(p)
        if p.type == "micro":
            s.false_micro += 1
            s.false_micro_talking += any(_overlaps(p, r.start, r.end) for r in talking)
    s.false_alarms = len(s.false)
    named = [m for m in s.matches if m.truth.emotion in EMOTIONS]
    s.emotion_n = len(named)
    s.emotion_correct = sum(m.prediction.emotion == m.truth.emotion for m in named)
    return s


def total(scores: list[ClipScore]) -> ClipScore:
    """The sum over clips: rates pooled over all episodes, predictions and minutes."""
    t = ClipScore("all", sum(s.frames for s in scores), sum(s.seconds for s in scores))
    for k in ("episodes", "dont_care", "predictions", "hits", "hits_strict", "false_alarms", "ignored", "emotion_n",
              "emotion_correct", "false_micro", "false_micro_talking", "talking_s"):
        setattr(t, k, sum(getattr(s, k) for s in scores))
    return t


def score_dict(scores: list[ClipScore], details: bool = True) -> dict[str, Any]:
    """The `--json` object: the protocol, each clip, and the total."""
    return {"protocol": {"iou_match": IOU_MATCH, "iou_strict": IOU_STRICT, "dont_care_s": DONT_CARE_S},
            "clips": [s.as_dict(details) for s in scores], "total": total(scores).as_dict(details=False)}


def _own_rows(csv_path: Path, rows: list[Annotation] | list[Range], name: str, video: str) -> None:
    for r in rows:
        if r.video not in (video, name):
            raise AnnotationError(f"{csv_path}: row for video {r.video!r}, but this file annotates clip {name} ({video})")


def annotation_files(folder: Path, video: str) -> tuple[list[Path], list[Path]]:
    """(episode CSVs, ranges CSVs) of one clip: STEM.csv, else its parts STEM.PART.csv (annotators split long clips)."""
    stem = Path(video).stem
    whole = folder / f"{stem}.csv"
    if whole.is_file():
        ranges = folder / f"{stem}.ranges.csv"
        return [whole], [ranges] if ranges.is_file() else []
    parts = sorted(p for p in folder.glob(f"{stem}.*.csv") if not p.name.endswith(".ranges.csv"))
    return parts, sorted(folder.glob(f"{stem}.*ranges.csv"))


def load_truth(manifest: FootageManifest, name: str, annotations: Path | None = None) -> ClipTruth:
    """A verified clip with its episodes and ranges (optional), every row its own and inside the clip."""
    path = verify(manifest, name)
    video = manifest.clips[name].file
    folder = annotations or manifest.annotations_dir
    ep_files, range_files = annotation_files(folder, video)
    if not ep_files:
        raise InputError(f"{folder / (Path(video).stem + '.csv')}: no annotations for clip {name}")
    frames, fps = video_frames(path)
    episodes: list[Annotation] = []
    ranges: list[Range] = []
    for f in ep_files:
        rows = read_annotations(f)
        _own_rows(f, rows, name, video)
        rows = [_as_video(a, video) for a in rows]
        check_bounds(f, rows, video, frames)
        episodes += rows
    for f in range_files:
        rs = read_ranges(f)
        _own_rows(f, rs, name, video)
        rs = [Range(video, r.kind, r.start, r.end, r.note) for r in rs]
        check_range_bounds(f, rs, video, frames)
        ranges += rs
    episodes.sort(key=lambda a: (a.onset, a.offset))
    return ClipTruth(name, video, path, frames, fps, episodes, ranges)


def _as_video(a: Annotation, video: str) -> Annotation:
    return a if a.video == video else Annotation(video, a.onset, a.apex, a.offset, a.type, a.emotion, a.aus, a.note)


def annotated_clips(manifest: FootageManifest, annotations: Path | None = None) -> list[str]:
    """The manifest's clips that have an annotation file, in manifest order."""
    folder = annotations or manifest.annotations_dir
    return [n for n, c in manifest.clips.items() if annotation_files(folder, c.file)[0]]


def read_predictions(manifest: FootageManifest, pred_csv: Path, truths: list[ClipTruth]) -> list[Annotation]:
    """A predictions CSV (the annotation format) for the clips scored; bounds checked like the truth."""
    rows = read_annotations(pred_csv)
    by_video = {t.video: t for t in truths}
    out: list[Annotation] = []
    for r in rows:
        name = manifest.by_file(r.video)
        if name is None:
            raise InputError(f"{pred_csv}: predictions name video {r.video!r}, which is not a clip in the footage manifest")
        video = manifest.clips[name].file
        if video in by_video:
            out.append(_as_video(r, video))
    for t in truths:
        check_bounds(pred_csv, out, t.video, t.frames)
    return out


def score_clips(truths: list[ClipTruth], preds: list[Annotation],
                rejections: dict[str, list[Rejection]] | None = None) -> list[ClipScore]:
    """Each clip's score, in the order given; `rejections`: the spotter's per video, to explain misses."""
    scores = []
    for t in truths:
        s = score_clip(t, [p for p in preds if p.video == t.video],
                       None if rejections is None else rejections.get(t.video, []))
        log.debug("%s: %d episodes, %d hits, %d false alarms", t.video, s.episodes, s.hits, s.false_alarms)
        scores.append(s)
    return scores
