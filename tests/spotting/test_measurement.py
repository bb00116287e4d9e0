"""One frame's measurement: landmarks in, a scored sample out (the spotter's state machine aside)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from edge.config import SpottingConfig
from edge.spotting.baseline import Baseline
from edge.spotting.features import AU_INDEX, AU_NAMES, FeatureExtractor
from edge.spotting.measurement import TRACK_SETTLE_MS, FrameMeasure


def _measure() -> tuple[FrameMeasure, Baseline]:
    n = len(AU_NAMES)
    base = Baseline(2 * n, 3000.0, 0.0008, min_ms=1000.0)
    return FrameMeasure(SpottingConfig(flow=False), FeatureExtractor(), base), base


def test_no_sample_while_the_region_settles_on_a_newly_found_face(make_stream) -> None:
    m, _ = _measure()
    out = []
    for frame, res in make_stream(seconds=0.3).frames():
        res.detected = frame.index == 0
        got = m.sample(frame, res, frame.t_ns / 1e6, None, None, lambda: iter(()))
        out.append(got)
    t0 = 1000.0  # the stream's first frame time, ms
    first = next(i for i, x in enumerate(out) if x is not None)
    assert all(x is None for x in out[:first])
    assert out[first].sample.t_ms - t0 >= TRACK_SETTLE_MS
    assert m.aligner is not None


def test_a_smile_scores_over_the_threshold_against_the_neutral_learnt(make_stream) -> None:
    m, base = _measure()
    stream = make_stream(seconds=3.0).expression({"6": 0.8, "12": 0.8}, 2400.0, 300.0)
    scores, corners = {}, {}
    for frame, res in stream.frames():
        s = m.sample(frame, res, frame.t_ns / 1e6, None, None, lambda: iter(())).sample
        if s.t_ms < 2300.0:
            base.add(s.t_ms, s.f)
        scores[frame.index], corners[frame.index] = s.score, s.z[AU_INDEX["R12"]]
        assert s.fdisp is None  # no flow configured
    apex = int(2550.0 * 120 / 1000)
    assert max(scores[i] for i in range(int(2.0 * 120), int(2.3 * 120))) < m.cfg.threshold
    assert scores[apex] >= 2 * m.cfg.threshold and corners[apex] > 0
    assert scores[0] == 0.0  # nothing is scored before the baseline is ready
