"""A finished excursion from the spotter's samples: its extent and type (candidate.measure), and whether
it is an expression (candidate.reject_reason)."""

from __future__ import annotations

import numpy as np
import pytest

from edge.config import SpottingConfig
from edge.spotting.candidate import BLINK_LEAD_MS, BLINK_LEAK_RATIO, BLINK_OVERRIDE, Sample, measure, reject_reason

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


@pytest.mark.parametrize("fps", [24.0, 120.0])
def test_a_flash_over_the_threshold_well_before_the_lids_close_is_not_the_blinks(fps) -> None:
    """Session 23: franck's real-texture lip presses, made brief, were rejected as blinks because the
    eyes close or look down in the middle of them. The landmark model's blink leak moves with the
    lids or after them; it never crosses the threshold BLINK_LEAD_MS before they go down."""
    threshold = SpottingConfig().threshold
    t = np.arange(0.0, 300.0, 1000.0 / fps)
    scores = 1.8 * threshold * smooth_bump(t, 0.0, 300.0)  # under BLINK_OVERRIDE x the threshold
    crossed = float(t[int(np.argmax(scores >= threshold))])

    def fate(lids_from_ms: float) -> str:
        span = [sample(i, ti, si) for i, (ti, si) in enumerate(zip(t, scores))]
        for x in span:
            x.lids_down = x.t_ms >= lids_from_ms
        return reject_reason(span, [], float(scores.max()), threshold, 500.0)

    assert fate(crossed + BLINK_LEAD_MS + 1000.0 / fps) == ""  # the face's: already there
    assert fate(crossed + 0.5 * BLINK_LEAD_MS) == "blink"  # rises with the closing lids: the blink's
    assert fate(crossed - 1000.0 / fps) == "blink"  # rises once they are down


def test_a_flash_on_the_lids_return_that_dwarfs_the_blink_is_not_its_leak() -> None:
    """Session 30: on franck's real-texture footage (24 fps) a lip press spliced in right after a natural
    blink peaked at 8.9 times the threshold on the lids' return, over 4 times what the blink itself scored,
    and was rejected as the blink's leak. The leak grows with the closure, so the blink's own frames bound
    it; the same peak within BLINK_LEAK_RATIO of them stays the blink's, and so does a weak one."""
    threshold = SpottingConfig().threshold
    frame = 1000.0 / 24.0

    def fate(blink_score: float, peak: float) -> str:
        blink = [sample(i, i * frame, blink_score) for i in range(5)]  # the closure, before the onset
        for x in blink:
            x.blink = x.lids_down = True
        span = [sample(5 + i, (5 + i) * frame, s) for i, s in enumerate((0.8 * blink_score, peak, 0.6 * peak, 0.3 * threshold))]
        for x in span[:3]:
            x.lids_down = True  # the lids' return
        span[0].blink = True
        return reject_reason(span, [], peak, threshold, 500.0, lead=blink)

    strong = 1.2 * BLINK_OVERRIDE * threshold
    assert fate(0.7 * threshold, strong) == ""  # 5 times the blink's score: the face's
    assert fate(strong / (0.9 * BLINK_LEAK_RATIO), strong) == "blink"  # within the ratio: the leak
    assert fate(0.3 * threshold, 0.9 * BLINK_OVERRIDE * threshold) == "blink"  # not well over the threshold
