"""Onset/offset from the score's flanks, and the combined score."""

from __future__ import annotations

import numpy as np
import pytest

from edge.spotting.extent import REST_CAP, combined_score, event_extent, is_micro, nearest, onset_above_rest

from .conftest import smooth_bump


@pytest.mark.parametrize("fps", [30.0, 120.0, 200.0])
@pytest.mark.parametrize("peak", [6.0, 40.0])
def test_extent_of_a_smoothstep_bump_is_recovered_whatever_its_height(fps, peak) -> None:
    t = np.arange(0, 2000, 1000 / fps)
    onset, duration = 700.0, 300.0
    scores = peak * smooth_bump(t, onset, duration)
    t_on, t_off = event_extent(t, scores, int(np.argmax(scores)))
    tol = max(1000 / fps * 0.5, 10.0)
    assert t_on == pytest.approx(onset, abs=tol)
    assert t_off == pytest.approx(onset + duration, abs=tol)


@pytest.mark.parametrize("fps", [24.0, 30.0, 120.0])
def test_an_onset_is_measured_from_the_level_the_score_rested_at(fps) -> None:
    """A 300 ms expression rising from a score that rested at 3 sigma (a baseline a little off):
    measured from zero its onset walks back along the plateau by more than half the expression's
    length; measured from the rest level of the early pre-roll it is where the rise began."""
    rng = np.random.default_rng(1)
    t = np.arange(0.0, 2500.0, 1000.0 / fps)
    bump = smooth_bump(t, 1500.0, 300.0)
    apex_t = t[int(np.argmax(bump))]
    scores = np.maximum(np.where(t < apex_t, 3.0, 0.0) + 10.0 * bump + rng.normal(0.0, 0.3, len(t)) * (t < 1500), 0.0)
    crossed = t[int(np.argmax(scores >= 7.0))]
    keep = t >= crossed - 600.0  # the spotter's pre-roll (PREROLL_MS) and the excursion
    t, scores = t[keep], scores[keep]
    n_pre, apex = int(np.sum(t < crossed)), int(np.argmax(scores))
    t_on_zero, t_off = event_extent(t, scores, apex)
    assert t_on_zero < 1500.0 - 150.0
    t_on, t_off_rest = event_extent(t, onset_above_rest(scores, apex, n_pre // 2), apex)
    assert t_on == pytest.approx(1500.0, abs=1000.0 / fps)
    assert t_off_rest == t_off  # the offset flank is left alone


def test_onset_rest_level_is_capped_and_needs_frames() -> None:
    scores = np.array([9.0, 9.0, 9.0, 9.0, 12.0, 16.0, 10.0, 4.0])
    out = onset_above_rest(scores, 5, 2)
    np.testing.assert_allclose(out[:5], np.maximum(scores[:5] - REST_CAP * 16.0, 0.0))  # a rise under way is no rest
    np.testing.assert_array_equal(out[5:], scores[5:])
    np.testing.assert_array_equal(onset_above_rest(scores, 5, 1), scores)  # one frame is no level
    np.testing.assert_array_equal(onset_above_rest(np.zeros(6), 3, 3), np.zeros(6))


@pytest.mark.parametrize("fps", [24.0, 30.0, 120.0])
def test_micro_is_decided_to_within_one_frame(fps) -> None:
    """A measured extent is good to about a frame, so a 500 ms expression measured one frame
    long stays micro; two frames long, or 600 ms, it is macro."""
    frame_ms = 1000.0 / fps
    assert is_micro(500.0, frame_ms, 500.0)
    assert is_micro(500.0 + frame_ms, frame_ms, 500.0)
    assert not is_micro(500.0 + 2 * frame_ms, frame_ms, 500.0)
    assert not is_micro(600.0, frame_ms, 500.0)


def test_nearest_frame_within_bounds() -> None:
    t = np.array([0.0, 10.0, 20.0, 30.0])
    assert nearest(t, 12.0) == 1
    assert nearest(t, 16.0) == 2
    assert nearest(t, -50.0) == 0
    assert nearest(t, 29.0, hi=2) == 2
    assert nearest(t, 1.0, lo=1) == 1


def test_combined_score_rewards_agreement_not_noise() -> None:
    assert combined_score(np.array([6.0, 0.0, -3.0])) == pytest.approx(6.0)
    together = combined_score(np.array([5.0, 5.0, 5.0, 0.0]))
    assert together == pytest.approx(5.0 * np.sqrt(1.5))
    assert together > 6.0
    assert combined_score(np.array([-1.0, -2.0])) == 0.0


def test_apex_profile_ignores_an_action_that_follows_the_event() -> None:
    from edge.spotting.extent import apex_profile, combined_score

    # AU 0 rises and falls (the event); AU 1 then rises on its own (the mouth settling).
    t = np.arange(40, dtype=float)
    a = np.exp(-((t - 12) ** 2) / 8.0) * 20
    b = np.where(t > 18, 8.0, 0.0)
    zs = [np.array([x, y, 0.0]) for x, y in zip(a, b)]
    scores = np.array([combined_score(z) for z in zs])
    apex = int(np.argmax(scores))
    prof = apex_profile(zs, apex, scores, 0.5)
    assert prof[apex] == scores[apex]
    assert np.all(prof[25:] < 1.0) and np.all(scores[25:] >= 8.0)
    # Frames without z-scores keep their score.
    zs[0] = None
    assert apex_profile(zs, apex, scores, 0.5)[0] == scores[0]


def test_apex_profile_scores_each_frame_as_combined_score_does() -> None:
    from edge.spotting.extent import apex_profile, combined_score, combined_scores

    rng = np.random.default_rng(3)
    zs: list[np.ndarray | None] = [rng.normal(0.0, 3.0, 6) for _ in range(30)]
    zs[4] = None
    zs[7] = np.array([np.nan, 2.0, np.inf, -np.inf, 1.0, 0.5])  # a missing estimate, a saturated one
    apex = 10
    zs[apex] = np.array([9.0, 8.0, 1.0, 0.5, 7.0, -2.0])  # AUs 0, 1 and 4 carry the apex at share 0.5
    scores = rng.uniform(0.0, 5.0, 30)
    keep = np.array([True, True, False, False, True, False])
    prof = apex_profile(zs, apex, scores, 0.5)
    for i, z in enumerate(zs):
        want = scores[i] if z is None else combined_score(np.where(keep, np.nan_to_num(z, posinf=0.0), 0.0))
        assert prof[i] == pytest.approx(want), i
    assert prof[7] == 2.0  # NaN and +inf count as 0, AUs 2 and 3 are not the apex's: top 2 beats rms(2, 1, 0)
    rows = np.stack([z for z in zs if z is not None])
    np.testing.assert_allclose(combined_scores(rows), [combined_score(z) for z in rows])
