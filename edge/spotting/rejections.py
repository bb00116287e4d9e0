"""Why the spotter let a stretch of frames go: the record a missed expression is explained by.

`Spotter.rejected` counts each reason; this keeps the recent ones with their
frames, so scoring real footage can say of every missed episode what the
spotter saw there (a candidate vetoed as a blink, as head motion, a new rest)
or that it saw nothing over the threshold. Bounded: a unit runs for days.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Protocol, Sequence, TypeVar

KEEP = 2000  # rejections remembered (a day of a busy unit is a few hundred)


@dataclass(frozen=True, slots=True)
class Rejection:
    """One stretch the spotter dropped: the reason and its frames (frame indices)."""

    reason: str  # a key of Spotter.rejected: blink | head_motion | talking | too_long | flow_drift | settled | merged
    onset: int
    apex: int
    offset: int
    peak: float  # the score at the apex over the threshold


def rejection(reason: str, frames: Sequence[Any], threshold: float) -> Rejection:
    """The record of dropped spotter samples (anything with .index and .score), apex at the highest score."""
    apex = max(frames, key=lambda x: x.score)
    return Rejection(reason, frames[0].index, apex.index, frames[-1].index, round(apex.score / threshold, 2))


def beside(frames: Sequence[Any], first: int, on: int, off: int, threshold: float) -> list[Rejection]:
    """Reason `merged`: the stretches of an excursion (`frames[first:]`) outside the candidate judged on
    it (`frames[on..off]`, around its highest apex) that crossed the threshold on their own.

    An excursion yields one candidate, at its apex; a micro expression whose score had not fallen
    back before a blink or a bigger expression followed goes with it, unjudged. Without this record
    its miss would read as "nothing over the threshold"."""
    out = []
    for part in (frames[first:on], frames[off + 1:]):
        if part and max(x.score for x in part) >= threshold:
            out.append(rejection("merged", part, threshold))
    return out


class Span(Protocol):
    onset: int
    offset: int


S = TypeVar("S", bound=Span)


def overlapping(spans: Iterable[S], onset: int, offset: int) -> list[S]:
    """Those (rejections, annotation rows) whose frames overlap onset..offset (inclusive), in frame order."""
    return sorted((r for r in spans if r.onset <= offset and onset <= r.offset), key=lambda r: r.onset)
