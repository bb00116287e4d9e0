"""A micro expression masked by another one: the first of two expressions in one excursion.

Ekman's classic leak is a flash of the concealed emotion with a smile (or another expression) put
over it before the face is back at rest. The score then never falls between the two, the
excursion is one, and its candidate is measured around the highest apex: the mask. So the stretch
before the mask's onset is judged as a candidate of its own when it crossed the threshold by
itself, the action units at its apex point another way than at the mask's apex (cosine of their
z-scores under DISTINCT_COS: a smile building up never splits), and it is micro-short (a long
stretch before a mask is talking or a drift, session 32: judging those too cost seven false
alarms on the real clips). Pure functions on the spotter's samples.
"""

from __future__ import annotations

import numpy as np

from edge.config import SpottingConfig
from edge.spotting.candidate import Extent, Sample, measure

DISTINCT_COS = 0.2  # at 0.5 the real views gained 4 false alarms and no hit (session 32)


def distinct(a: Sample, b: Sample) -> bool:
    """The AUs up at `a` and at `b` are different ones (z-scores nearly orthogonal)."""
    if a.z is None or b.z is None:
        return False
    na, nb = float(np.linalg.norm(a.z)), float(np.linalg.norm(b.z))
    return na > 0 and nb > 0 and float(a.z @ b.z) / (na * nb) < DISTINCT_COS


def masked_before(frames: list[Sample], n_pre: int, main: Extent, cfg: SpottingConfig) -> tuple[int, Extent] | None:
    """(k, its extent in frames[:k]) for a masked micro expression before `main` in the excursion
    `frames[n_pre:]` (pre-roll first), or None."""
    before = frames[n_pre:main.on]
    if not before:
        return None
    lead = max(before, key=lambda x: x.score)
    if lead.score < cfg.threshold or not distinct(lead, frames[main.apex]):
        return None
    ext = measure(frames[:main.on], n_pre, cfg)
    return (main.on, ext) if ext.kind == "micro" else None
