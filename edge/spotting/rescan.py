"""Expressions inside an excursion the spotter is about to take as a new rest.

An excursion held for HOLD_CHECK_MS with no emotion to show for it is a new
rest (rest.new_rest): the head drifted or pitched, the mouth stayed apart after
speech, a posture changed. Dropped whole, it also drops every expression made
while the face rested there: on the head-moving generated set 18 of 33 misses
were expressions of up to 12x the threshold inside such excursions, and on the
real clips 26 of 72 (session 24's miss records).

So before the excursion is dropped, its frames are measured again against the
level around each frame rather than against the old neutral: each estimate
minus the higher of its medians over the WINDOW_MS before and after the frame.
A bump narrower than the window keeps its height (both sides are at the level
under it); a step to a new level or a slow drift leaves nothing (one side is as
high as the frame). Where what is left crosses the threshold, stands out of the
excursion's own texture (talking raises bumps everywhere) and the head moved
into the rest (TURN_DEG), there is a candidate, measured and judged like any
other (candidate.measure, then the spotter's checks and description).

What it finds goes out when the rest is decided: up to HOLD_CHECK_MS after the expression's offset.

Pure functions on the spotter's samples; the spotter judges and describes what they find.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable, TypeVar

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from edge.config import SpottingConfig
from edge.spotting.align import rotation_angle_deg
from edge.spotting.candidate import Extent, Sample, head_moving, measure
from edge.spotting.extent import LOW_FRACTION, LOW_Z, combined_scores

WINDOW_MS = 600.0  # a bump narrower than this stands out of the level on both sides of it (a micro expression)
LEVEL_HZ = 30.0  # the levels are medians of frames about this far apart (18 of them in a window)
PRE_MS = 300.0  # frames kept before a sub-candidate to measure its onset from
# A bump counts only if its peak is this many times the excursion's own texture: the TEXTURE_QUANTILE of
# its relevelled score. A still face resting somewhere new is smooth and an expression stands out of it;
# talking through the excursion raises bumps everywhere (franck: 13 of them at 1.2-4.7x, session 25).
TEXTURE_RATIO = 6.0
TEXTURE_QUANTILE = 75.0
# Only a rest the head turned or nodded into (this many degrees from where the excursion began) is rescanned:
# there the estimates' level moved with the pose and hid what the face did. A face that held the score up
# by itself (a lingering mouth, talking without head movement) raises only speech over its own level.
TURN_DEG = 3.0
CLOSE_MS = 25.0  # a sub-candidate ends once its score stays under its low level this long (Spotter's CONFIRM_MS)


def _side_medians(values: np.ndarray, times: np.ndarray, window_ms: float) -> tuple[np.ndarray, np.ndarray]:
    """Per frame, the medians of `values` over the window before it and the window after it (NaN where a
    whole window is not there). Taken on frames about LEVEL_HZ apart: the whole rescan of a 4 s excursion
    at 120 fps takes 2-3 ms here, where a median per frame over every frame took 0.3 s (a stall of the live
    loop longer than its capture queue)."""
    n = len(times)
    frame_ms = float(np.median(np.diff(times))) if n > 1 else 1000.0 / LEVEL_HZ
    stride = max(1, int(round(1000.0 / LEVEL_HZ / max(frame_ms, 1e-6))))
    w = max(3, int(round(window_ms / max(frame_ms, 1e-6) / stride))) | 1  # the window in strided frames, odd
    sub = values[::stride]
    m = len(sub)
    before_s = np.full((m + 1,) + values.shape[1:], np.nan)  # the extra row: past the last strided frame
    after_s = np.full((m + 1,) + values.shape[1:], np.nan)
    if m > w:
        # med[j]: the median of sub[j:j + w] (w is odd)
        med = np.partition(sliding_window_view(sub, w, axis=0), w // 2, axis=-1)[..., w // 2]
        before_s[w:m] = med[:m - w]
        after_s[:m - w] = med[1:]
    i = np.arange(n)
    # Frame i lies between strided frames i // stride (at or before it) and -(-i // stride) (at or after
    # it): the window before the later one and after the earlier one both leave frame i out.
    return before_s[-(-i // stride)], after_s[i // stride]


def detrended(values: np.ndarray, times: np.ndarray, window_ms: float = WINDOW_MS) -> np.ndarray:
    """`values` (frames x estimates) minus the higher of the level before and after each frame; NaN where
    either side is not known (no level to stand out from)."""
    before, after = _side_medians(values, times, window_ms)
    return values - np.maximum(before, after)


def _as_array(rows: list[np.ndarray | None], k: int) -> np.ndarray:
    """The rows stacked (zeros for a missing one), with no NaN or infinity left."""
    zero = np.zeros(k)
    return np.nan_to_num(np.stack([zero if r is None else r for r in rows]).astype(np.float64), posinf=0.0, neginf=0.0)


@dataclass(frozen=True)
class Relevelled:
    """An excursion's frames measured against the level around each (0 where no level is known)."""

    frames: list[Sample]
    times: np.ndarray
    z: np.ndarray  # frames x AUs
    disp: np.ndarray
    flow: np.ndarray | None
    scores: np.ndarray

    def samples(self, lo: int, hi: int) -> list[Sample]:
        """Copies of frames lo..hi-1 carrying the relevelled values (made only where a candidate is: a
        copy of every frame of a 4 s excursion at 120 fps took 17 ms)."""
        return [dataclasses.replace(self.frames[i], score=float(self.scores[i]), z=self.z[i], disp=self.disp[i],
                                    fdisp=None if self.flow is None else self.flow[i]) for i in range(lo, hi)]


def relevel(frames: list[Sample], window_ms: float = WINDOW_MS) -> Relevelled:
    """z-scores, displacements and flow estimates of `frames` detrended, the score recomputed from the
    z-scores."""
    times = np.array([x.t_ms for x in frames])

    def level(rows: list[np.ndarray | None], k: int) -> np.ndarray:
        return np.nan_to_num(detrended(_as_array(rows, k), times, window_ms), nan=0.0)

    z = level([x.z for x in frames], next(len(x.z) for x in frames if x.z is not None))
    disp = level([x.disp for x in frames], len(frames[0].disp))
    flow = None
    if all(x.fdisp is not None for x in frames):  # the flow estimates are per AU, as the displacements
        flow = level([x.fdisp for x in frames], disp.shape[1])
    return Relevelled(frames, times, z, disp, flow, combined_scores(z))


def bumps(scores: np.ndarray, times: np.ndarray, unreliable: np.ndarray, first: int,
          threshold: float) -> list[tuple[int, int]]:
    """Index ranges (start, end inclusive) from `first` on where the score crosses the threshold, each
    closed like the spotter closes an excursion: once the score has stayed under max(LOW_Z,
    LOW_FRACTION x its peak) for CLOSE_MS. Only those whose peak stands TEXTURE_RATIO over the texture
    count; a range still open at the last frame is left out (where it goes is not known yet)."""
    out: list[tuple[int, int]] = []
    start, peak, below = -1, 0.0, None
    stand_out = TEXTURE_RATIO * float(np.percentile(scores[first:], TEXTURE_QUANTILE))
    for i in range(first, len(scores)):
        score, t = float(scores[i]), float(times[i])
        if start < 0:
            if score >= threshold and not unreliable[i]:
                start, peak, below = i, score, None
            continue
        peak = max(peak, score)
        if score >= max(LOW_Z, LOW_FRACTION * peak):
            below = None
        elif below is None:
            below = t
        if below is not None and t - below >= CLOSE_MS:
            if peak >= stand_out:
                out.append((start, i))
            start = -1
    return out


def pre_roll(times: np.ndarray, start: int) -> int:
    """Index of the first frame within PRE_MS before `start`."""
    return int(np.searchsorted(times, times[start] - PRE_MS, side="left"))


def still_around(rel: Relevelled, start: int, end: int, threshold: float) -> bool:
    """The head-motion rule (candidate.head_moving) over the windows the bump was measured against, not only
    its own frames: a bump beside a lean or a nod is measured against a level the head was still moving
    through (cap12's leans gave two false micro events), unless it is strong enough to stand through that
    motion anyway (franck's lip press at 1937, at 7x the threshold, while his head moves)."""
    lo, hi = np.searchsorted(rel.times, [rel.times[start] - WINDOW_MS, rel.times[end] + WINDOW_MS], side="left")
    return not head_moving(rel.frames[lo:hi + 1], float(rel.scores[start:end + 1].max()), threshold)


Found = TypeVar("Found")


def expressions_in(pre: list[Sample], excursion: list[Sample], cfg: SpottingConfig,
                   judge: Callable[[list[Sample], Extent], Found | None]) -> list[Found]:
    """What `judge` (the spotter's last word on a candidate) makes of each bump in `excursion`, relevelled;
    `pre`: the frames before it the spotter still holds (the first bump's onset is measured from them)."""
    if max(rotation_angle_deg(excursion[0].rotation, x.rotation) for x in excursion) < TURN_DEG:
        return []
    rel = relevel(pre + excursion)
    unreliable = np.array([x.unreliable for x in rel.frames])
    found: list[Found] = []
    after = 0  # a bump's pre-roll never reaches into the one before it
    for start, end in bumps(rel.scores, rel.times, unreliable, len(pre), cfg.threshold):
        if not still_around(rel, start, end, cfg.threshold):
            continue
        first = max(pre_roll(rel.times, start), after)
        sub = rel.samples(first, end + 1)
        done = judge(sub, measure(sub, start - first, cfg))
        if done is not None:
            found.append(done)
        after = end + 1
    return found
