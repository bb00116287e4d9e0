"""A finished excursion from the spotter's samples: its extent and type (candidate.measure), and whether
it is an expression (candidate.reject_reason)."""

from __future__ import annotations

import numpy as np
import pytest

from edge.config import SpottingConfig
from edge.spotting.candidate import (
    BLINK_LEAD_MS, BLINK_LEAK_RATIO, BLINK_OVERRIDE, MOTION_DPS, MOTION_OVERRIDE, TURN_MARGIN_MS, TURN_MICRO_DEG, Sample,
    measure, reject_reason,
)

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


def yaw(deg: float) -> np.ndarray:
    a = np.radians(deg)
    return np.array([[np.cos(a), 0.0, np.sin(a)], [0.0, 1.0, 0.0], [-np.sin(a), 0.0, np.cos(a)]])


@pytest.mark.parametrize("fps", [30.0, 120.0])
def test_a_brief_candidate_the_head_turned_through_is_the_turn_s(fps) -> None:
    """Session 34: generated heads turning 10-12 degrees in 0.3-0.6 s (`--head-motion natural`) left
    residuals as brief as micro expressions at up to 6 times the threshold, while the head's peak speed
    stayed near MOTION_DPS. A candidate no longer than a micro expression around which the head turned
    more than TURN_MICRO_DEG is the turn's, unless it stands through it; a longer one, or a small turn,
    is judged as before."""
    threshold = SpottingConfig().threshold
    t = np.arange(-600.0, 900.0, 1000.0 / fps)

    def fate(turn_deg: float, turn_ms: float, peak: float, duration_ms: float = 300.0, turn_from_ms: float = -50.0) -> str:
        frames = []
        for i, ti in enumerate(t):
            x = sample(i, ti, peak * float(smooth_bump(np.array([ti]), 0.0, duration_ms)[0]))
            x.rotation = yaw(turn_deg * float(np.clip((ti - turn_from_ms) / turn_ms, 0.0, 1.0)))
            x.speed = turn_deg / turn_ms * 1000.0 if turn_from_ms <= ti <= turn_from_ms + turn_ms else 0.0
            frames.append(x)
        on = int(np.searchsorted(t, 0.0))
        off = int(np.searchsorted(t, duration_ms))
        span = frames[on:off + 1]
        assert max(x.speed for x in span) < MOTION_DPS  # the speed rule alone keeps it
        return reject_reason(span, frames[off:], peak, threshold, 500.0, lead=frames[:on])

    assert fate(10.0, 400.0, 3.5 * threshold) == "head_motion"  # the turn's residual
    assert fate(10.0, 400.0, 3.5 * threshold, duration_ms=1200.0) == ""  # a macro expression while turning
    assert fate(0.8 * TURN_MICRO_DEG, 400.0, 3.5 * threshold) == ""  # a small turn explains nothing
    # Strong enough to stand through the turn: MOTION_OVERRIDE x the threshold x the turn over the limit.
    assert fate(2.0 * TURN_MICRO_DEG, 400.0, 1.1 * 2.0 * MOTION_OVERRIDE * threshold) == ""
    # The turn counts TURN_MARGIN_MS either side: one ending just before the onset still explains it.
    assert fate(7.0, 150.0, 2.5 * threshold, turn_from_ms=-200.0) == "head_motion"
    assert fate(7.0, 150.0, 2.5 * threshold, turn_from_ms=-200.0 - TURN_MARGIN_MS) == ""  # over by then
