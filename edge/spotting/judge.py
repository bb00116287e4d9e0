"""The last word on a candidate: no expression (and why), or the event the spotter reports.

Every candidate is judged here the same way, wherever it was measured: an excursion the state
machine closed (spotter.py), a bump found again inside a new rest (rescan.py), a flash another
expression masked (masked.py). Pure functions on the spotter's samples, apart from the speech
rhythm each lip-carried micro candidate is noted in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.config import SpottingConfig
from edge.events.record import Event
from edge.spotting.candidate import Extent, Sample, reject_reason
from edge.spotting.gates import RHYTHM_BEATS, LipRhythm, articulated
from edge.spotting.rest import emotion_shown

# A judged event: the record, its onset and offset (ms), whether speech could explain it, its peak over the threshold.
Closed = tuple[Event, float, float, bool, float]


@dataclass(frozen=True, slots=True)
class Verdict:
    """Why a candidate is no expression. `reason` is what Spotter.rejected counts ('' for a candidate
    too short to be anything, not counted); `record`: its frames are kept to explain a miss."""

    reason: str
    record: bool = True


def verdict(frames: list[Sample], ext: Extent, cfg: SpottingConfig, rhythm: LipRhythm,
            cnn_neutral: np.ndarray | None, cap: bool = False) -> Verdict | None:
    """None when the candidate `ext` in `frames` is an expression, else why not.

    `cap`: the excursion was cut short while still under way (too long, or the stream ended), so
    its length is no reason. A micro candidate carried by the lips is noted in `rhythm` whatever
    the verdict: speech is a rhythm of such candidates, kept or not."""
    span = frames[ext.on:ext.off + 1]
    lips = ext.kind == "micro" and articulated(frames[ext.apex])
    beats = rhythm.beat(frames[ext.apex].t_ms) if lips else 0
    reason = reject_reason(span, frames[ext.off:], ext.peak, cfg.threshold, cfg.max_micro_ms,
                           emotion_shown(span, cnn_neutral), frames[:ext.on])
    if reason:
        return Verdict(reason)
    if ext.duration_ms < cfg.min_micro_ms - ext.frame_ms:
        return Verdict("", record=False)
    if ext.duration_ms > cfg.max_macro_ms and not cap:
        return Verdict("too_long", record=False)
    if beats >= RHYTHM_BEATS:
        return Verdict("talking")  # the lips moved at a syllable's pace just before
    return None


def closed(ev: Event, frames: list[Sample], ext: Extent, threshold: float) -> Closed:
    """The event `ev` described from `ext`, with what the talking hold needs to decide on it."""
    # The mouth counts over the whole excursion, not only its measured extent: talking's next
    # syllable can open it just after the offset.
    mouth = any(x.mouth_open or x.talking for x in frames[ext.on:])
    return (ev, frames[ext.on].t_ms, frames[ext.off].t_ms, mouth and articulated(frames[ext.apex]),
            round(frames[ext.apex].score / threshold, 2))
