"""PoseResidual: the share of each estimate that slow head rotation explains, learnt on calm frames."""

from __future__ import annotations

import math

import numpy as np

from edge.spotting.align import rotation_angles, umeyama
from edge.spotting.pose_residual import PoseResidual

FPS = 120.0


def drifting_head(seconds: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Frame times (ms) and (yaw, pitch) in radians: slow sinusoids of ~1.5 degrees plus per-frame jitter."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * FPS)) * 1000.0 / FPS
    yaw = math.radians(1.5) * np.sin(2 * math.pi * t / 9000.0 + 0.3)
    pitch = math.radians(1.2) * np.sin(2 * math.pi * t / 14000.0 + 1.1)
    jitter = rng.normal(0.0, math.radians(0.08), (len(t), 2))
    return t, np.stack([yaw, pitch], axis=1) + jitter


def test_rotation_angles_reads_yaw_and_pitch_of_a_fitted_rotation():
    rng = np.random.default_rng(1)
    pts = rng.normal(0, 1, (12, 3))
    y, p = math.radians(2.0), math.radians(-1.5)
    ry = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    rx = np.array([[1, 0, 0], [0, math.cos(p), -math.sin(p)], [0, math.sin(p), math.cos(p)]])
    rotated = pts @ (rx @ ry).T
    angles = rotation_angles(umeyama(rotated, pts).rotation)  # frame -> reference undoes the turn
    assert np.allclose(angles, [-y, -p], atol=math.radians(0.05))


def test_learns_how_estimates_follow_the_rotation_and_removes_it():
    b_true = np.array([[0.3, -0.5, 0.0, 0.8], [0.6, 0.2, 0.0, -0.4]])  # IOD per radian
    t, angles = drifting_head(40.0)
    rng = np.random.default_rng(2)
    noise = rng.normal(0.0, 0.0008, (len(t), 4))
    pr = PoseResidual(4)
    slow = np.array([pr.follow(ti, a) for ti, a in zip(t, angles)])
    values = (angles @ b_true) + noise  # the estimates bend with the unfiltered head rotation
    for ti, s, v in zip(t[: len(t) // 2], slow, values):
        pr.add(ti, s, v)
    assert np.allclose(pr.coef, b_true, atol=0.12)
    later = slice(len(t) // 2, None)
    cleaned = np.array([pr.remove(s, v) for s, v in zip(slow[later], values[later])])
    raw_sd, left_sd = values[later].std(axis=0), cleaned.std(axis=0)
    assert (left_sd[[0, 1, 3]] < 0.4 * raw_sd[[0, 1, 3]]).all()
    assert left_sd[2] < 1.1 * raw_sd[2]  # an estimate the rotation does not move is left alone


def test_a_still_head_teaches_nothing():
    rng = np.random.default_rng(3)
    pr = PoseResidual(3)
    for i in range(3000):
        t = i * 1000.0 / FPS
        s = pr.follow(t, rng.normal(0.0, math.radians(0.08), 2))
        pr.add(t, s, rng.normal(0.0, 0.001, 3))
    shift = np.abs(pr.remove(np.radians([0.3, 0.3]), np.zeros(3)))
    assert shift.max() < 0.0005  # below half the estimates' own noise, for a 0.3 degree turn


def test_nothing_is_removed_before_enough_calm_frames():
    pr = PoseResidual(2)
    for i in range(30):
        pr.add(i * 8.3, np.radians([i * 0.1, 0.0]), np.array([i * 0.01, 0.0]))
    assert not pr.coef.any()


def test_follow_passes_drift_but_not_a_brief_pull():
    pr = PoseResidual(1)
    t = np.arange(0, 3000, 1000.0 / FPS)
    pull = np.where((t >= 1000) & (t < 1100), math.radians(1.0), 0.0)  # an expression tugging the eye corners
    slow = np.array([pr.follow(ti, np.array([p, 0.0]))[0] for ti, p in zip(t, pull)])
    assert slow.max() < 0.4 * math.radians(1.0)
    pr2 = PoseResidual(1)
    drift = math.radians(1.0) * t / 3000.0
    slow2 = np.array([pr2.follow(ti, np.array([d, 0.0]))[0] for ti, d in zip(t, drift)])
    assert abs(slow2[-1] - drift[-1]) < math.radians(0.1)  # a slow turn is followed within 0.1 degree
