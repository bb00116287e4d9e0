"""A finished excursion's extent and type from the spotter's samples (candidate.measure)."""

from __future__ import annotations

import numpy as np
import pytest

from edge.config import SpottingConfig
from edge.spotting.candidate import Sample, measure

from .conftest import smooth_bump


def sample(i: int, t_ms: float, score: float) -> Sample:
    return Sample(t_ms, int(t_ms * 1e6), i, score, np.zeros(20), np.eye(3), 0.0, False, None, None, t_ms)


@pytest.mark.parametrize("fps", [24.0, 120.0])
def test_a_micro_expression_rising_from_a_raised_rest_keeps_its_onset_and_stays_micro(fps) -> None:
    """Session 21: on the generated hopper s111 clip a 383 ms fear rose from a score resting at
    2-4 sigma; measured from zero, its onset reached back 500 ms and it was reported macro."""
    t = np.arange(0.0, 2500.0, 1000.0 / fps)
    bump = smooth_bump(t, 1500.0, 300.0)
    scores = np.where(t < t[int(np.argmax(bump))], 3.0, 0.0) + 10.0 * bump
    crossed = t[int(np.argmax(scores >= SpottingConfig().threshold))]
    frames = [sample(i, ti, si) for i, (ti, si) in enumerate(zip(t, scores)) if ti >= crossed - 600.0]
    n_pre = sum(x.t_ms < crossed for x in frames)
    ext = measure(frames, n_pre, SpottingConfig())
    assert ext.kind == "micro"
    assert frames[ext.on].t_ms == pytest.approx(1500.0, abs=1000.0 / fps)
    assert frames[ext.off].t_ms == pytest.approx(1800.0, abs=1000.0 / fps)
