"""A finished excursion of the spotting score: its frames, its extent, and whether it is an expression
(plus the per-frame head speed those decisions use).

Pure functions on the per-frame samples the spotter keeps; the spotter decides
when an excursion is over, these decide what it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np

from edge.config import SpottingConfig
from edge.spotting.align import LEFT_EYE_OUTER, RIGHT_EYE_OUTER, rotation_angle_deg
from edge.spotting.extent import apex_profile, crossing, event_extent, is_micro, nearest, onset_above_rest

MOTION_DPS = 60.0  # head turning faster than this (deg/s) during an event ...
MOTION_OVERRIDE = 3.0  # ... rejects it unless its peak exceeds threshold x this
MOTION_WINDOW_MS = 60.0  # head speed is measured over this span
TURN_MICRO_DEG = 5.0  # a candidate no longer than a micro expression around which the head turned more than this ...
TURN_MARGIN_MS = 200.0  # ... counting the turn this far either side of it, is the turn's (see `turned`)
BLINK_OVERRIDE = 3.0  # ... peaking at this many times the threshold with the eyes open
BLINK_LEAD_MS = 100.0  # ... or over the threshold this long before the lids went down (no leak leads them so far)
BLINK_LEAK_RATIO = 3.0  # ... or, on the lids' return, at this many times the most the blink itself scored
BLINK_LOOKBACK_MS = 300.0  # the blink's own frames are looked for this far before the candidate
UNRELIABLE_SHARE = 0.3  # a longer candidate with more of its frames unreliable (fit residual) than this is head motion
PROFILE_SHARE = 0.5  # AUs within this share of the strongest at the apex delimit the event
SHIFT_IOD_PER_S = 0.15  # the face travelling across the image faster than this (IOD/s) ...
SHIFT_WINDOW_MS = 120.0  # ... measured over this span, rejects an event unless its peak exceeds
# threshold x MOTION_OVERRIDE x (speed / SHIFT_IOD_PER_S): the faster the face travels, the more it explains
# Nose bridge and inner eye corners: where the face is in the image, whatever the expression.
SHIFT_POINTS = np.array([6, 168, 197, 133, 362], dtype=np.intp)


@dataclass(slots=True)
class Sample:
    """What the spotter remembers of one frame."""

    t_ms: float
    t_ns: int
    index: int
    score: float
    disp: np.ndarray
    rotation: np.ndarray
    speed: float
    unreliable: bool
    pose: Any
    emotion: np.ndarray | None
    t_mid: float  # centre time of the smoothing window the score stands for
    blink: bool = False
    talking: bool = False
    mouth_open: bool = False
    lids_down: bool = False  # a blink or its lids' return (Gates.lids_down): judges short candidates only
    z: np.ndarray | None = None  # per-AU z-scores as they count (after the gates)
    fdisp: np.ndarray | None = None  # flow AU estimates from the neutral (None without flow)
    f: np.ndarray | None = None  # the smoothed raw estimates (what the baseline takes)
    centre: np.ndarray | None = None  # image position of SHIFT_POINTS (pixels)
    shift: float = 0.0  # the face's speed across the image (IOD/s)
    angles: np.ndarray | None = None  # low-passed (yaw, pitch) of the alignment, radians (pose_residual)
    estimates: np.ndarray | None = None  # landmark AU estimates before the pose residual is taken out


@dataclass(frozen=True, slots=True)
class Extent:
    """Indices into the excursion's frames, its duration as annotated, and its type."""

    on: int
    apex: int
    off: int
    duration_ms: float
    kind: str  # micro | macro
    peak: float
    frame_ms: float


def measure(frames: list[Sample], n_pre: int, cfg: SpottingConfig, floor: float = 0.0) -> Extent:
    """Onset, apex and offset of the excursion after the first `n_pre` (pre-roll) frames.

    `floor`: the score level the excursion settled at (its offset is measured above it); the onset
    is measured above the level the score rested at in the first half of the pre-roll (onset_above_rest).
    """
    scores = np.array([x.score for x in frames])
    times = np.array([x.t_ms for x in frames])
    t_mid = np.array([x.t_mid for x in frames])
    apex = n_pre + int(np.argmax(scores[n_pre:]))
    scores = apex_profile([x.z for x in frames], apex, scores, PROFILE_SHARE)
    if floor > 0:
        scores = scores.copy()
        scores[apex + 1:] = np.maximum(scores[apex + 1:] - floor, 0.0)
    scores = onset_above_rest(scores, apex, n_pre // 2)
    peak = float(scores[apex])
    t_on, t_off = event_extent(t_mid, scores, apex)
    on = nearest(times, t_on, hi=apex)
    off = nearest(times, t_off, lo=apex)
    # As annotated: from the last frame at rest before to the first at rest after.
    duration = float(frames[off].t_ms - frames[on].t_ms)
    frame_ms = float(np.median(np.diff(times))) if len(times) > 1 else 0.0
    # Micro or macro by twice the width at half height: for a rise and a fall
    # of any shares (smoothstep) that is the whole duration, and it is
    # measured where the flanks are steepest, so noise and the slow settling
    # of the landmark model at the feet do not stretch it.
    width = 2.0 * (crossing(t_mid, scores, apex, 0.5 * peak, 1) - crossing(t_mid, scores, apex, 0.5 * peak, -1))
    # A rise longer than a whole micro expression cannot be one, whatever the width.
    rise = frames[apex].t_ms - frames[on].t_ms
    micro = is_micro(min(width, duration), frame_ms, cfg.max_micro_ms) and rise <= cfg.max_micro_ms
    return Extent(on, apex, off, duration, "micro" if micro else "macro", peak, frame_ms)


def reject_reason(span: list[Sample], tail: list[Sample], peak: float, threshold: float, max_micro_ms: float,
                  emotion_shown: bool = False, lead: Sequence[Sample] = ()) -> str:
    """Why a candidate is not an expression, or "" if it is one.

    `tail` runs from the offset to the newest frame, `lead` (optional) is the frames before the
    onset (the blink a candidate rides may have begun there). The landmark model drags
    the brows and the mouth with a closing eye, so a short candidate that
    overlaps a blink, or ends just before one, is the blink's. Real people blink, talk and move their heads
    through their expressions, though: a candidate longer than any micro
    expression on which the emotion CNN shows an emotion against the person's
    neutral (`emotion_shown`) is an expression whatever happened during it; only
    how much of it the 3-D fit could not explain still counts against it.
    """
    short = span[-1].t_ms - span[0].t_ms <= max_micro_ms
    if not short and emotion_shown:
        return "head_motion" if np.mean([x.unreliable for x in span]) > UNRELIABLE_SHARE else ""
    # A short one is also the blink's if it rides the lids' return (the model's leak lags the lids).
    if any(_lids(x, short) for x in span + tail) and not _clear_of_blink(span, tail, threshold, short, lead):
        return "blink"
    if span[0].talking:
        return "talking"
    if head_moving(span, peak, threshold) or (short and turned(around(span, lead, tail), peak, threshold)):
        return "head_motion"
    if any(x.unreliable for x in span):
        return "head_motion"
    return ""


def head_moving(frames: list[Sample], peak: float, threshold: float) -> bool:
    """The head turned faster than MOTION_DPS, or the face travelled across the image faster than
    SHIFT_IOD_PER_S, over these frames, and an expression peaking at `peak` is not strong enough to stand
    through it (MOTION_OVERRIDE times the threshold; for travel, times its speed over SHIFT_IOD_PER_S too)."""
    if max(x.speed for x in frames) > MOTION_DPS and peak < threshold * MOTION_OVERRIDE:
        return True
    travel = max(x.shift for x in frames) / SHIFT_IOD_PER_S
    return travel > 1.0 and peak < threshold * MOTION_OVERRIDE * travel


def turned(frames: list[Sample], peak: float, threshold: float) -> bool:
    """The head turned or nodded more than TURN_MICRO_DEG over these frames, and a candidate peaking at
    `peak` is not strong enough to stand through the turn (MOTION_OVERRIDE times the threshold, times the
    turn over TURN_MICRO_DEG).

    A quick turn leaves a residual after the 3-D alignment that rises and falls with it, as brief as a
    micro expression, while its peak speed can stay under MOTION_DPS. Measured (docs/spotting.md, session
    34): on generated heads turning 10-12 degrees in 0.3-0.6 s, 6 of 15 micro candidates that matched
    nothing turned 6-11 degrees within TURN_MARGIN_MS of their frames; the 50 that matched, 2.3 at most;
    real texture 4.3 at most, but for one smile whose source episode starts in a head turn (6.2)."""
    turn = max(rotation_angle_deg(frames[0].rotation, x.rotation) for x in frames) / TURN_MICRO_DEG
    return turn > 1.0 and peak < threshold * MOTION_OVERRIDE * turn


def around(span: list[Sample], lead: Sequence[Sample], tail: Sequence[Sample]) -> list[Sample]:
    """The candidate's frames with those TURN_MARGIN_MS either side of it, as far as they are known
    (`tail` starts at the offset frame)."""
    t0, t1 = span[0].t_ms - TURN_MARGIN_MS, span[-1].t_ms + TURN_MARGIN_MS
    return [x for x in lead if x.t_ms >= t0] + span + [x for x in tail[1:] if x.t_ms <= t1]


def _lids(x: Sample, short: bool) -> bool:
    return x.lids_down if short else x.blink


def _clear_of_blink(span: list[Sample], tail: list[Sample], threshold: float, short: bool,
                    lead: Sequence[Sample] = ()) -> bool:
    """A short candidate that overlaps a blink still stands if it peaks well over the threshold on
    frames with the eyes open (a real flash of a smile a blink interrupts, not the blink's leak), or
    if it was over the threshold BLINK_LEAD_MS before the lids first went down: the landmark model's
    leak moves with the closing lids or lags them, it never starts that far ahead of them. People
    blink, or look down, in the middle of an expression that was already there (session 23).

    A short one that peaks on the lids' return also stands when that peak is well over the threshold
    and BLINK_LEAK_RATIO times the most the blink itself scored: the leak grows with the closure, and
    the blink's own frames measured it. On real-texture footage a flash of expression right after a
    natural blink peaked at 4-6 times the blink's score; leaks that only followed a blink, at most
    2.9 times (session 30)."""
    open_eyes = [x.score for x in span if not _lids(x, short)]
    if open_eyes and max(open_eyes) >= BLINK_OVERRIDE * threshold:
        return True
    if not short:
        return False
    returning = [x.score for x in span if not x.blink]
    if returning and max(returning) >= BLINK_OVERRIDE * threshold:
        start = span[0].t_ms - BLINK_LOOKBACK_MS
        own = [x.score for x in list(lead) + span + tail if x.blink and x.t_ms >= start]
        if own and max(returning) >= BLINK_LEAK_RATIO * max(own):
            return True
    down = min((x.t_ms for x in span + tail if _lids(x, short)), default=-np.inf)
    return any(x.score >= threshold and x.t_ms <= down - BLINK_LEAD_MS for x in span)


def _earlier(t_ms: float, newest_first: Iterable[Sample], window_ms: float) -> Sample | None:
    """The newest sample at least `window_ms` before `t_ms` (the oldest one there is, if none is)."""
    ref = None
    for x in newest_first:
        ref = x
        if t_ms - x.t_ms >= window_ms:
            break
    return ref if ref is not None and t_ms - ref.t_ms > 0 else None


def head_speed(t_ms: float, rotation: np.ndarray, newest_first: Iterable[Sample]) -> float:
    """Head angular speed in deg/s over the last ~MOTION_WINDOW_MS of samples."""
    ref = _earlier(t_ms, newest_first, MOTION_WINDOW_MS)
    if ref is None:
        return 0.0
    return rotation_angle_deg(ref.rotation, rotation) / (t_ms - ref.t_ms) * 1000.0


def face_centre(landmarks: np.ndarray) -> tuple[np.ndarray, float]:
    """Where the face is in the image (SHIFT_POINTS' mean, pixels) and its inter-ocular distance."""
    lm = np.asarray(landmarks)
    eyes = lm[[LEFT_EYE_OUTER, RIGHT_EYE_OUTER], :2].astype(np.float64)
    return lm[SHIFT_POINTS, :2].astype(np.float64).mean(axis=0), float(np.linalg.norm(eyes[0] - eyes[1]))


def shift_speed(t_ms: float, centre: np.ndarray, iod: float, newest_first: Iterable[Sample]) -> float:
    """The face's speed across the image in IOD/s over the last ~SHIFT_WINDOW_MS of samples.

    A nod or a turn pivots the head at the neck, so the face travels across the
    image with it; an expression leaves the nose bridge and inner eye corners put.
    """
    ref = _earlier(t_ms, newest_first, SHIFT_WINDOW_MS)
    if ref is None or ref.centre is None or iod <= 0:
        return 0.0
    return float(np.linalg.norm(centre - ref.centre)) / iod / (t_ms - ref.t_ms) * 1000.0
