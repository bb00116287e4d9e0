"""How much two runs of the same footage agree, frame by frame and event by event.

A near-lossless re-encode leaves the face where it was (the landmarks agree within a fraction of a
pixel) yet moves the real-footage figures by several hits and false alarms (docs/spotting.md,
session 27): the spotter's score is measured against state (a neutral and a noise scale learnt
from the frames it took as calm, gates that switch), so a small difference early lands every
later decision elsewhere. Counting hits on the two views cannot tell a better rule from that
spread; these figures measure the spread itself, so a change that makes the spotter steadier
shows up as such.

Pure functions on the spotter's per-frame readings (spotting/reading.py) and the events as
annotation rows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

from edge.events.annotations import Annotation
from edge.evaluation.metrics import match_intervals

SCORE_FLOOR = 0.1  # robust sigmas: scores are compared in ratio, and a score under this is "none" in both
EVENT_IOU = 0.3  # an event of one run that the other reports at this temporal IoU is the same event
FLAGS = ("blink", "talking", "lids_down")


@dataclass
class Agreement:
    """One clip's two runs (A: the reference, e.g. as fetched; B: e.g. re-encoded)."""

    video: str
    frames: int  # frames both runs read (a face measured in both)
    score_log_ratio: float | None  # median |ln(score B / score A)| over those frames
    score_log_ratio_flags_equal: float | None  # ... over the frames where every gate flag agrees
    score_correlation: float | None  # Pearson, over the same frames as score_log_ratio
    flags_differ: dict[str, float]  # per gate, the share of frames where the runs disagree
    events_a: int
    events_b: int
    events_same: int  # events of A that B reports too (IoU >= EVENT_IOU)

    @property
    def events_kept(self) -> float | None:
        """Share of A's events that B reports too."""
        return self.events_same / self.events_a if self.events_a else None

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["events_kept"] = self.events_kept
        d["flags_differ"] = {k: round(v, 4) for k, v in self.flags_differ.items()}
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in d.items()}


def _median(x: np.ndarray) -> float | None:
    return float(np.median(x)) if len(x) else None


Pair = tuple[Any, Any]


def pairs(a: Sequence[Any], b: Sequence[Any]) -> list[Pair]:
    """The two runs' readings of the same frames (a face measured in both), in A's order."""
    by_index = {r.index: r for r in b}
    return [(r, by_index[r.index]) for r in a if r.index in by_index]


def agreement(video: str, frames: Sequence[Pair], events_a: Sequence[Annotation],
              events_b: Sequence[Annotation]) -> Agreement:
    """Compare two runs on one clip (or pooled): readings (anything with .score and the FLAGS) paired by
    frame, and events."""
    sa = np.array([p[0].score for p in frames], dtype=np.float64)
    sb = np.array([p[1].score for p in frames], dtype=np.float64)
    flags = {f: np.array([getattr(x, f) != getattr(y, f) for x, y in frames], dtype=bool) for f in FLAGS}
    scored = (sa >= SCORE_FLOOR) | (sb >= SCORE_FLOOR)  # frames before a neutral exists score 0 in both
    ratio = np.abs(np.log(np.maximum(sb, SCORE_FLOOR) / np.maximum(sa, SCORE_FLOOR)))
    same_flags = ~np.logical_or.reduce(list(flags.values())) if len(frames) else np.zeros(0, dtype=bool)
    corr = None
    if scored.sum() > 2 and sa[scored].std() > 0 and sb[scored].std() > 0:
        corr = float(np.corrcoef(sa[scored], sb[scored])[0, 1])
    return Agreement(
        video=video, frames=len(frames),
        score_log_ratio=_median(ratio[scored]),
        score_log_ratio_flags_equal=_median(ratio[scored & same_flags]),
        score_correlation=corr,
        flags_differ={f: float(v.mean()) if len(v) else 0.0 for f, v in flags.items()},
        events_a=len(events_a), events_b=len(events_b),
        events_same=_same_events(events_a, events_b),
    )


def _same_events(a: Sequence[Annotation], b: Sequence[Annotation]) -> int:
    """Events of A that B reports too, matched one to one per clip at EVENT_IOU (whatever their type)."""
    videos = {e.video for e in a}
    return sum(len(match_intervals([e for e in a if e.video == v], [e for e in b if e.video == v], EVENT_IOU))
               for v in videos)


def compare(videos: Sequence[str], events_a: Sequence[Annotation], readings_a: dict[str, Sequence[Any]],
            events_b: Sequence[Annotation], readings_b: dict[str, Sequence[Any]]) -> dict[str, Any]:
    """Per clip and pooled over the clips, as one JSON-ready object."""
    per_clip = {v: pairs(readings_a.get(v, ()), readings_b.get(v, ())) for v in videos}
    clips = [agreement(v, per_clip[v], [e for e in events_a if e.video == v], [e for e in events_b if e.video == v])
             for v in videos]
    pooled = agreement("all", [p for v in videos for p in per_clip[v]],
                       [e for e in events_a if e.video in per_clip], [e for e in events_b if e.video in per_clip])
    return {"clips": [c.as_dict() for c in clips], "total": pooled.as_dict()}


def lines(d: dict[str, Any], reference: str, view: str) -> list[str]:
    """The comparison as a table, one line per clip and the pooled total."""

    def f(v: float | None, width: int, pct: bool = False) -> str:
        return f"{'-':>{width}}" if v is None else f"{100 * v:>{width}.1f}" if pct else f"{v:>{width}.2f}"

    out = ["", f"agreement of {view} with {reference}, on the frames both measured: |ln score ratio| medians",
           "(all; where every gate flag agrees), score correlation, % of frames where a gate differs; events both "
           f"report at IoU >= {EVENT_IOU} / of A / of B", "",
           f"{'clip':<26}{'frames':>7}{'|ln|':>6}{'(eq)':>6}{'corr':>6}{'blink%':>7}{'talk%':>6}{'lids%':>6}"
           f"{'events':>10}{'kept':>6}"]
    for c in [*d["clips"], d["total"]]:
        fl = c["flags_differ"]
        out.append(f"{c['video'][:25]:<26}{c['frames']:>7}{f(c['score_log_ratio'], 6)}"
                   f"{f(c['score_log_ratio_flags_equal'], 6)}{f(c['score_correlation'], 6)}"
                   f"{f(fl['blink'], 7, True)}{f(fl['talking'], 6, True)}{f(fl['lids_down'], 6, True)}"
                   f"{c['events_same']:>4}/{c['events_a']:>2}/{c['events_b']:>2}{f(c['events_kept'], 6)}")
    return out
