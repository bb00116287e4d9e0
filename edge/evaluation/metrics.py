"""MEGC spotting and recognition metrics.

Spotting (MEGC 2019-2023 long-video protocol, Li et al., "MEGC2020 - The Third
Facial Micro-Expression Grand Challenge", FG 2020; See et al., "MEGC 2019",
FG 2019): a predicted interval is a true positive when its intersection over
union with a ground-truth interval of the same type and video is at least 0.5
(frames inclusive: |A n B| / |A u B| counted in frames). Matching is one to one;
we maximise the number of matches (maximum bipartite matching on the IoU >= 0.5
graph, with ties broken toward higher IoU), so one prediction overlapping two
truths takes only one and the other truth remains a false negative. Unmatched
predictions are false positives. Precision, recall and F1 are reported for micro,
macro and overall (the sums of the two, as MEGC reports "overall").

Recognition is scored over matched micro true positives whose ground truth has an
emotion: accuracy, UF1 (mean of per-class F1 over the classes present in truth
or prediction) and UAR (mean per-class recall over classes present in truth),
plus a confusion matrix (rows truth, columns prediction, order EMOTIONS then
"" for a prediction without an emotion).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from edge.events.annotations import Annotation
from edge.events.record import EMOTIONS, EVENT_TYPES

IOU_THRESHOLD = 0.5


def iou(a: Annotation, b: Annotation) -> float:
    """Intersection over union of two inclusive frame intervals."""
    inter = min(a.offset, b.offset) - max(a.onset, b.onset) + 1
    if inter <= 0:
        return 0.0
    union = (a.offset - a.onset + 1) + (b.offset - b.onset + 1) - inter
    return inter / union


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        d = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / d if d else 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "precision": round(self.precision, 4),
                "recall": round(self.recall, 4), "f1": round(self.f1, 4)}


@dataclass(frozen=True)
class Match:
    truth: Annotation
    prediction: Annotation
    iou: float


@dataclass
class Recognition:
    n: int = 0
    accuracy: float = 0.0
    uf1: float = 0.0
    uar: float = 0.0
    labels: list[str] = field(default_factory=lambda: list(EMOTIONS) + [""])
    confusion: list[list[int]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"n": self.n, "accuracy": round(self.accuracy, 4), "uf1": round(self.uf1, 4), "uar": round(self.uar, 4),
                "labels": self.labels, "confusion": self.confusion}


@dataclass
class Score:
    micro: Counts
    macro: Counts
    matches: list[Match]
    false_positives: list[Annotation]
    false_negatives: list[Annotation]
    recognition: Recognition

    @property
    def overall(self) -> Counts:
        return Counts(self.micro.tp + self.macro.tp, self.micro.fp + self.macro.fp, self.micro.fn + self.macro.fn)

    def as_dict(self) -> dict[str, Any]:
        return {"micro": self.micro.as_dict(), "macro": self.macro.as_dict(), "overall": self.overall.as_dict(),
                "recognition": self.recognition.as_dict()}


def match_intervals(truths: list[Annotation], preds: list[Annotation], threshold: float = IOU_THRESHOLD) -> list[Match]:
    """Maximum one-to-one matching of predictions to truths with IoU >= threshold.

    Augmenting paths (Kuhn's algorithm) give the maximum number of matches; edges
    are tried in descending IoU so among maximum matchings a high-IoU one wins.
    Callers pass one video and one type at a time, so graphs are small.
    """
    edges: list[list[tuple[float, int]]] = []
    for t in truths:
        row = [(iou(t, p), j) for j, p in enumerate(preds)]
        edges.append(sorted([(v, j) for v, j in row if v >= threshold - 1e-12], reverse=True))
    owner: dict[int, int] = {}  # prediction index -> truth index

    def augment(i: int, seen: set[int]) -> bool:
        for _, j in edges[i]:
            if j in seen:
                continue
            seen.add(j)
            if j not in owner or augment(owner[j], seen):
                owner[j] = i
                return True
        return False

    order = sorted(range(len(truths)), key=lambda i: -(edges[i][0][0] if edges[i] else 0.0))
    for i in order:
        augment(i, set())
    return [Match(truths[i], preds[j], iou(truths[i], preds[j])) for j, i in sorted(owner.items(), key=lambda x: x[1])]


def score(truths: list[Annotation], preds: list[Annotation], threshold: float = IOU_THRESHOLD) -> Score:
    """Spotting and recognition scores over any number of videos."""
    counts = {t: Counts() for t in EVENT_TYPES}
    matches: list[Match] = []
    fps_: list[Annotation] = []
    fns: list[Annotation] = []
    videos = sorted({a.video for a in truths} | {a.video for a in preds})
    for v in videos:
        for typ in EVENT_TYPES:
            ts = [a for a in truths if a.video == v and a.type == typ]
            ps = [a for a in preds if a.video == v and a.type == typ]
            m = match_intervals(ts, ps, threshold)
            matched_t = {id(x.truth) for x in m}
            matched_p = {id(x.prediction) for x in m}
            counts[typ].tp += len(m)
            counts[typ].fp += len(ps) - len(m)
            counts[typ].fn += len(ts) - len(m)
            matches += m
            fps_ += [p for p in ps if id(p) not in matched_p]
            fns += [t for t in ts if id(t) not in matched_t]
    rec = recognition([(m.truth.emotion, m.prediction.emotion) for m in matches if m.truth.type == "micro" and m.truth.emotion])
    return Score(counts["micro"], counts["macro"], matches, fps_, fns, rec)


def recognition(pairs: list[tuple[str, str]]) -> Recognition:
    """Accuracy, UF1, UAR and confusion over (true emotion, predicted emotion) pairs."""
    labels = list(EMOTIONS) + [""]
    index = {e: i for i, e in enumerate(labels)}
    conf = [[0] * len(labels) for _ in labels]
    for t, p in pairs:
        conf[index[t]][index.get(p, index[""])] += 1
    n = len(pairs)
    if not n:
        return Recognition(confusion=conf)
    correct = sum(conf[i][i] for i in range(len(EMOTIONS)))
    f1s, recalls = [], []
    for i, e in enumerate(EMOTIONS):
        tp = conf[i][i]
        truth_n = sum(conf[i])
        pred_n = sum(conf[r][i] for r in range(len(labels)))
        if truth_n == 0 and pred_n == 0:
            continue
        f1s.append(2 * tp / (truth_n + pred_n))
        if truth_n:
            recalls.append(tp / truth_n)
    return Recognition(n=n, accuracy=correct / n, uf1=sum(f1s) / len(f1s), uar=sum(recalls) / len(recalls), confusion=conf)


def score_dict(s: Score, videos: int, frames: int, minutes: float | None = None) -> dict[str, Any]:
    """The `--json` object. `minutes` of footage (None: not known) gives the false micro events a minute,
    the rate an interviewer meets: how often the unit flags a flash that was not there."""
    d = s.as_dict()
    d["videos"] = videos
    d["frames"] = frames
    d["minutes"] = None if minutes is None else round(minutes, 4)
    d["false_micro_per_min"] = None if not minutes else round(d["micro"]["fp"] / minutes, 3)
    d["iou_threshold"] = IOU_THRESHOLD
    d["false_positives"] = [asdict(a) for a in s.false_positives]
    d["false_negatives"] = [asdict(a) for a in s.false_negatives]
    return d
