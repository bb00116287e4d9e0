"""Adaptive neutral baseline: a rolling median and robust sigma over time, not frames."""

from __future__ import annotations

import numpy as np
import pytest

from edge.spotting.baseline import Baseline


def feed(b: Baseline, fps: float, seconds: float, mean: np.ndarray, sigma: float, rng, t0: float = 0.0) -> float:
    t = t0
    for _ in range(int(seconds * fps)):
        b.add(t, mean + rng.normal(0.0, sigma, mean.shape))
        t += 1000.0 / fps
    return t


@pytest.mark.parametrize("fps", [30.0, 120.0, 200.0])
def test_median_and_sigma_converge_at_any_frame_rate(fps) -> None:
    rng = np.random.default_rng(3)
    b = Baseline(3, window_ms=3000.0, noise_floor=1e-6)
    feed(b, fps, 3.0, np.array([1.0, -2.0, 0.5]), 0.01, rng)
    assert b.ready
    np.testing.assert_allclose(b.median, [1.0, -2.0, 0.5], atol=0.006)
    np.testing.assert_allclose(b.sigma, 0.01, rtol=0.35)


def test_window_is_time_based_and_follows_a_shift() -> None:
    rng = np.random.default_rng(4)
    b = Baseline(1, window_ms=1000.0, noise_floor=1e-6)
    t = feed(b, 120.0, 2.0, np.array([0.0]), 0.001, rng)
    assert b.median[0] == pytest.approx(0.0, abs=0.001)
    feed(b, 120.0, 1.2, np.array([0.05]), 0.001, rng, t0=t)  # the person's neutral drifted
    assert b.median[0] == pytest.approx(0.05, abs=0.002)


def test_noise_floor_bounds_sigma_from_below() -> None:
    b = Baseline(2, window_ms=1000.0, noise_floor=np.array([0.01, 0.02]))
    for i in range(200):
        b.add(i * 5.0, np.zeros(2))
    np.testing.assert_allclose(b.sigma, [0.01, 0.02])


def test_not_ready_until_enough_time_has_passed() -> None:
    b = Baseline(1, window_ms=3000.0, noise_floor=0.01, min_ms=500.0)
    for i in range(50):  # 50 frames at 200 fps = 245 ms
        b.add(i * 5.0, np.zeros(1))
    assert not b.ready
    for i in range(50, 110):
        b.add(i * 5.0, np.zeros(1))
    assert b.ready


def test_outliers_barely_move_the_median() -> None:
    rng = np.random.default_rng(5)
    b = Baseline(1, window_ms=2000.0, noise_floor=1e-6)
    t = 0.0
    for i in range(240):
        x = 1.0 if i % 10 == 0 else rng.normal(0.0, 0.001)  # 10% large excursions
        b.add(t, np.array([x]))
        t += 1000 / 120
    assert abs(b.median[0]) < 0.001
    assert b.sigma[0] < 0.003


def test_reset_forgets() -> None:
    b = Baseline(1, window_ms=1000.0, noise_floor=0.01)
    for i in range(200):
        b.add(i * 5.0, np.ones(1))
    b.reset()
    assert not b.ready


def test_estimate_survives_a_long_stretch_without_neutral_frames() -> None:
    """Talking or a long expression ages the window out; the last estimate stays usable."""
    rng = np.random.default_rng(6)
    b = Baseline(1, window_ms=1000.0, noise_floor=1e-6)
    t = feed(b, 120.0, 1.5, np.array([0.2]), 0.001, rng)
    assert b.ready
    t += 3000.0  # three seconds of frames that were not neutral
    for k in range(3):  # a few fresh frames only: too few to re-estimate from
        b.add(t + k * 8.3, np.array([5.0]))
    assert b.ready
    assert b.median[0] == pytest.approx(0.2, abs=0.002)


def test_rebase_makes_recent_samples_the_neutral_and_keeps_the_noise() -> None:
    b = Baseline(2, 3000.0, 0.001)
    rng = np.random.default_rng(0)
    for i in range(600):
        b.add(i * 5.0, rng.normal([0.0, 1.0], 0.01))
    sigma = b.sigma.copy()
    b.rebase(3000.0, [np.array([0.5, 2.0]) + rng.normal(0, 0.01, 2) for _ in range(40)])
    np.testing.assert_allclose(b.median, [0.5, 2.0], atol=0.01)
    np.testing.assert_allclose(b.sigma, sigma)
    assert b.ready
    for i in range(1, 200):  # fresh neutral frames join the rebased window
        b.add(3000.0 + i * 5.0, rng.normal([0.5, 2.0], 0.01))
    np.testing.assert_allclose(b.median, [0.5, 2.0], atol=0.01)


def test_shift_moves_the_neutral_of_some_features_with_their_new_zero() -> None:
    """The flow's reference was renewed: its estimates now start from there, and so does their neutral."""
    b = Baseline(3, 3000.0, 0.001)
    rng = np.random.default_rng(1)
    t = feed(b, 100.0, 2.0, np.array([0.0, 0.2, -0.3]), 0.01, rng)
    sigma = b.sigma.copy()
    b.shift(1, np.array([0.2, -0.3]))
    np.testing.assert_allclose(b.median, [0.0, 0.0, 0.0], atol=0.01)
    np.testing.assert_allclose(b.sigma, sigma)
    feed(b, 100.0, 0.5, np.zeros(3), 0.01, rng, t0=t)  # frames measured from the new zero agree with the old ones
    np.testing.assert_allclose(b.median, [0.0, 0.0, 0.0], atol=0.01)
    np.testing.assert_allclose(b.sigma, sigma, rtol=0.3)


def test_a_new_pose_fit_re_corrects_the_neutral_it_was_measured_with() -> None:
    """The stored frames were corrected with the pose residual's old fit; when the fit changes they are
    corrected again, so the neutral and the frames measured against it agree. Without this, a person
    resting 6 degrees from where the track began saw every estimate step by angles x the change."""
    rng = np.random.default_rng(7)
    b = Baseline(3, window_ms=3000.0, noise_floor=1e-6)
    bend = np.array([[0.2, 0.0, -0.3], [0.5, 0.0, 0.4]])  # IOD per radian; the last feature is a flow one
    t = 0.0
    for _ in range(300):
        angles = np.radians([1.0, 6.0]) + rng.normal(0.0, np.radians(1.0), 2)
        raw = angles @ bend + rng.normal(0.0, 0.001, 3)
        b.add(t, raw, angles)  # the old fit explained nothing
        t += 10.0
    b.recompute(t)
    assert abs(b.median[1]) < 0.001 and abs(b.median[0]) > 0.03  # the rest pose still bends features 0 and 2
    b.recorrect(bend[:, :2])  # the fit has learnt features 0 and 1; the flow feature is not the fit's
    np.testing.assert_allclose(b.median[:2], 0.0, atol=0.002)  # at once, before any recompute
    b.recompute(t)
    np.testing.assert_allclose(b.median[:2], 0.0, atol=0.001)
    assert b.sigma[0] < 0.002 < b.sigma[2]  # the turn's share of the spread is gone where it was corrected
