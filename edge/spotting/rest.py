"""Where an open excursion of the spotting score is going: back to neutral, to a new rest, or held.

Real faces rarely come straight back: the mouth settles a little apart after
speech, a posture changes, a smile is held through a whole answer. These pure
functions on the excursion's samples tell those apart for the spotter.
"""

from __future__ import annotations

import numpy as np

from edge.spotting.candidate import Sample
from edge.spotting.emotion import CNN_TO_EMOTION

SETTLE_MS = 400.0  # an excursion that stays under the threshold but level this long has settled at a new rest
SETTLE_FLAT = 0.85  # ... "level": the later half's median score at least this share of the earlier half's
SETTLE_EMIT_SHARE = 0.5  # ... and it is reported only if that rest is under this share of its peak
HOLD_CHECK_MS = 4000.0  # an excursion this long is asked whether it is an expression held or a new rest
HOLD_CNN_RISE = 0.1  # ... held: some emotion CNN class at least this far over the person's neutral output
HOLD_LOOK_MS = 1000.0  # ... over its last this many ms
HELD_SHARE = 0.5  # an excursion open at the end of the footage is reported if over the threshold this share of it


def last_moments(excursion: list[Sample], now_ms: float) -> list[Sample]:
    """The excursion's last SETTLE_MS: where the face is now."""
    return [x for x in excursion if x.t_ms > now_ms - SETTLE_MS]


def levelled(excursion: list[Sample], now_ms: float) -> bool:
    """The score over the last SETTLE_MS has stopped falling: the later half's median is at least
    SETTLE_FLAT of the earlier half's."""
    recent = [x.score for x in last_moments(excursion, now_ms)]
    half = len(recent) // 2
    if half < 1:
        return False
    return float(np.median(recent[half:])) >= SETTLE_FLAT * float(np.median(recent[:half]))


def settled(excursion: list[Sample], now_ms: float, above_ms: float, flow_busy_ms: float, max_micro_ms: float) -> bool:
    """The score has stayed under the threshold since `above_ms` (or, past a micro expression's length, the
    flow has seen a neutral image since `flow_busy_ms`) and stopped falling for SETTLE_MS: the face came to
    rest somewhere else (the mouth after speech, a changed posture, landmarks left off), not back to neutral."""
    # Longer than any micro expression with the image neutral to the flow: the landmarks, not the face, stayed off.
    stuck = now_ms - excursion[0].t_ms > max_micro_ms and now_ms - flow_busy_ms >= SETTLE_MS
    if now_ms - above_ms < SETTLE_MS and not stuck:
        return False
    return levelled(excursion, now_ms)


def settled_at(excursion: list[Sample], now_ms: float, peak: float) -> tuple[list[Sample], float, bool]:
    """A settled excursion's new rest (its last moments), the score level it rests at, and whether it is
    reported: a step to a new rest (posture, the mouth after speech) is no expression; an expression that
    came most of the way back down before its face settled is."""
    rest = last_moments(excursion, now_ms)
    floor = float(np.median([x.score for x in rest]))
    return rest, floor, floor < SETTLE_EMIT_SHARE * peak


def emotion_rise(samples: list[Sample], neutral: np.ndarray | None) -> float | None:
    """How far the emotion CNN's strongest class rose over these frames against the person's neutral
    output (None if the CNN never ran on them or no neutral is known yet)."""
    outputs = [x.emotion for x in samples if x.emotion is not None]
    if not outputs or neutral is None:
        return None
    k = len(CNN_TO_EMOTION)
    return float((np.mean(outputs, axis=0)[:k] - np.asarray(neutral)[:k]).max())


def emotion_shown(samples: list[Sample], neutral: np.ndarray | None) -> bool:
    """The CNN saw an emotion on these frames, against the person's neutral."""
    rise = emotion_rise(samples, neutral)
    return rise is not None and rise >= HOLD_CNN_RISE


def new_rest(excursion: list[Sample], now_ms: float, neutral: np.ndarray | None) -> bool:
    """Is a face HOLD_CHECK_MS into an excursion resting somewhere new (leaning, a changed posture,
    the hand on the chin) rather than holding an expression? A held smile or frown shows in the
    emotion CNN's output against this person's neutral; a new posture does not. With no CNN output
    at all, a long excursion is a new rest (as before the CNN was asked)."""
    rise = emotion_rise([x for x in excursion if x.t_ms >= now_ms - HOLD_LOOK_MS], neutral)
    return rise is None or rise < HOLD_CNN_RISE


def held(excursion: list[Sample], threshold: float, max_micro_ms: float) -> bool:
    """An expression being held: longer than any micro expression, and over the threshold for most
    of it (not a flicker of noise that happened to be open)."""
    span = excursion[-1].t_ms - excursion[0].t_ms
    above = np.mean([x.score >= threshold for x in excursion])
    return span > max_micro_ms and above >= HELD_SHARE
