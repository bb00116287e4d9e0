"""Blinks in a real clip, from FaceMesh's eyelids: what a time-compressed episode must not compress.

A real expression episode lasts seconds and the person blinks in it. Replayed
in 40-500 ms, each blink would shrink to a frame or two: a closure no eyelid
makes (a blink takes 100-400 ms). Like the head's turns (flowwarp.py), such a
blink is the generator's, not the face's, so the episode's fields are bridged
across it (episode.py). Blinks in the neutral frames the events are spliced
into stay: they are real, at their real speed.

A frame is a blink's when the eyes' lid gap is under BLINK_SHARE of its open
level both before and after it (the LEVEL_PERCENTILE of the gaps over
BLINK_CONTEXT_S each side, still the open level while the lids are down for
under three quarters of that time, as in a blink or two in a row): a blink
closes and reopens, where a smile's cheek raise narrows the eyes and keeps
them so.
"""

from __future__ import annotations

import numpy as np

from edge.synth.flowwarp import iod

LIDS = ((159, 145), (386, 374))  # upper and lower lid centres of each eye (FaceMesh indices)
BLINK_SHARE = 0.7  # a lid gap under this share of its level on both sides is a blink's
BLINK_CONTEXT_S = 0.5  # the open level: over this long before, and after
LEVEL_PERCENTILE = 75.0
BLINK_MARGIN = 1  # frames either side of a blink whose lids are still on their way


def lid_gap(landmarks: np.ndarray) -> float:
    """Mean of the two eyes' upper-to-lower lid distance, in inter-ocular distances."""
    lm = np.asarray(landmarks, dtype=np.float64)[:, :2]
    unit = iod(lm)
    if unit <= 0:
        return float("nan")
    return float(np.mean([np.linalg.norm(lm[u] - lm[d]) for u, d in LIDS])) / unit


def blink_frames(landmarks: list[np.ndarray | None], fps: float) -> np.ndarray:
    """Per frame of the clip, whether it belongs to a blink (False where there is no face)."""
    gap = np.array([lid_gap(x) if x is not None else np.nan for x in landmarks])
    n, w = len(gap), max(2, round(BLINK_CONTEXT_S * fps))
    dip = np.zeros(n, dtype=bool)
    for k in range(n):
        if not np.isfinite(gap[k]):
            continue
        before, after = gap[max(0, k - w):k], gap[k + 1:k + 1 + w]
        before, after = before[np.isfinite(before)], after[np.isfinite(after)]
        if len(before) and len(after):
            level = min(float(np.percentile(before, LEVEL_PERCENTILE)), float(np.percentile(after, LEVEL_PERCENTILE)))
            dip[k] = gap[k] < BLINK_SHARE * level
    out = dip.copy()
    for s in range(1, BLINK_MARGIN + 1):
        out[s:] |= dip[:-s]
        out[:-s] |= dip[s:]
    return out & np.isfinite(gap)
