"""Expressions inside an excursion that is taken as a new rest (rescan.py)."""

from __future__ import annotations

import numpy as np
import pytest

from edge.config import SpottingConfig
from edge.spotting.candidate import Sample
from edge.spotting.rescan import TEXTURE_RATIO, TURN_DEG, WINDOW_MS, bumps, detrended, expressions_in, relevel

FRAME_MS = 1000.0 / 30.0
THRESHOLD = 4.0


def times(seconds: float) -> np.ndarray:
    return np.arange(0.0, seconds * 1000.0, FRAME_MS)


def bump(t: np.ndarray, centre_ms: float, width_ms: float, height: float) -> np.ndarray:
    """A raised cosine `width_ms` wide: how a brief facial action rises and falls."""
    x = np.clip((t - centre_ms) / width_ms, -0.5, 0.5)
    return height * 0.5 * (1.0 + np.cos(2.0 * np.pi * x))


def samples(t: np.ndarray, z: np.ndarray) -> list[Sample]:
    """Samples whose per-AU z-scores (frames x AUs) are `z` (displacement alike, no flow)."""
    return [Sample(float(ti), int(ti * 1e6), i, float(np.max(z[i])), z[i].copy(), np.eye(3), 0.0, False, None, None,
                   float(ti), z=z[i].copy()) for i, ti in enumerate(t)]


def found(frames: list[Sample]) -> list[tuple[int, int]]:
    """The bumps of relevelled frames."""
    rel = relevel(frames)
    return bumps(rel.scores, rel.times, np.zeros(len(frames), dtype=bool), 0, THRESHOLD)


def test_a_brief_bump_keeps_its_height_and_a_step_or_a_drift_leaves_nothing() -> None:
    t = times(4.0)
    step = np.where(t > 2000.0, 6.0, 1.0)
    drift = 1.0 + 2.0 * t / 1000.0  # 2 sigmas a second: a head pitching slowly
    brief = 1.0 + bump(t, 2000.0, 300.0, 8.0)
    out = detrended(np.stack([step, drift, brief], axis=1), t)
    known = ~np.isnan(out).any(axis=1)
    assert known.sum() > len(t) // 2  # all but the ends, where one side of the window is missing
    assert np.nanmax(out[:, 0]) < 0.5 and np.nanmax(out[:, 1]) < 0.5, "a step or a drift is a new level"
    assert abs(np.nanmax(out[:, 2]) - 8.0) < 0.5, "a bump narrower than the window stands out whole"


def test_the_ends_of_the_excursion_have_no_level_to_stand_out_from() -> None:
    t = times(3.0)
    out = detrended(bump(t, 0.0, 200.0, 9.0)[:, None], t)
    assert np.isnan(out[0, 0]) and np.isnan(out[-1, 0])
    assert not np.isnan(out[int(WINDOW_MS / FRAME_MS) + 1, 0])


def test_an_expression_on_a_drifting_rest_is_found_and_the_drift_is_not() -> None:
    t = times(4.5)
    rng = np.random.default_rng(3)
    z = np.zeros((len(t), 3))
    z[:, 0] = 1.0 + 1.5 * t / 1000.0 + rng.normal(0.0, 0.2, len(t))  # the rest the head drifts into
    z[:, 1] = bump(t, 2500.0, 300.0, 7.0) + rng.normal(0.0, 0.2, len(t))  # a brow flash on top of it
    bumps_found = found(samples(t, z))
    assert len(bumps_found) == 1, bumps_found
    start, end = bumps_found[0]
    assert 2500.0 - 300.0 <= t[start] <= 2500.0 <= t[end] <= 2500.0 + 400.0
    assert found(samples(t, z * [1.0, 0.0, 0.0])) == []


def test_bumps_everywhere_are_texture_not_an_expression() -> None:
    # Talking through the excursion raises bumps at every syllable: none stands TEXTURE_RATIO over them.
    t = times(4.5)
    z = np.zeros((len(t), 2))
    for k, c in enumerate(np.arange(300.0, 4300.0, 250.0)):
        z[:, 0] += bump(t, c, 200.0, 5.0 + (k % 3))
    assert relevel(samples(t, z)).scores.max() >= THRESHOLD  # each syllable crosses the threshold ...
    assert found(samples(t, z)) == []  # ... but stands out of nothing
    assert TEXTURE_RATIO > 1.0


def test_a_bump_still_open_at_the_last_frame_is_left_for_later() -> None:
    t = times(3.0)
    z = (bump(t, 2950.0, 300.0, 8.0))[:, None] * np.ones((1, 2))
    z[:, 1] = 0.0
    assert bumps(z.max(axis=1), t, np.zeros(len(t), dtype=bool), 0, THRESHOLD) == []


def rotation_deg(pitch: float) -> np.ndarray:
    a = np.radians(pitch)
    return np.array([[1.0, 0.0, 0.0], [0.0, np.cos(a), -np.sin(a)], [0.0, np.sin(a), np.cos(a)]])


@pytest.mark.parametrize("pitch, found", [(0.0, 0), (TURN_DEG - 1.0, 0), (TURN_DEG + 2.0, 1)])
def test_only_a_rest_the_head_turned_into_is_rescanned(pitch, found) -> None:
    # A face holding the score up by itself (a lingering mouth, talking) raises speech over its own level;
    # a rest the head moved into hid what the face did while it lasted.
    t = times(4.5)
    z = np.zeros((len(t), 2))
    z[:, 0] = 6.0
    z[:, 1] = bump(t, 2500.0, 300.0, 7.0)
    excursion = samples(t, z)
    for i, x in enumerate(excursion):
        x.rotation = rotation_deg(pitch * min(1.0, t[i] / 600.0))
    judged = []
    out = expressions_in([], excursion, SpottingConfig(threshold=THRESHOLD),
                         lambda sub, ext: judged.append((sub[ext.on].t_ms, sub[ext.off].t_ms)) or ext)
    assert len(out) == found == len(judged)
    if found:
        t_on, t_off = judged[0]
        assert 2500.0 - 300.0 <= t_on < 2500.0 < t_off <= 2500.0 + 300.0, judged


@pytest.mark.parametrize("travel, height, found", [(0.0, 7.0, 1), (0.5, 7.0, 0), (0.5, 60.0, 1)])
def test_a_bump_beside_a_lean_is_the_lean_unless_it_stands_through_it(travel, height, found) -> None:
    # The face travels across the image (a lean, 0.5 IOD/s) in the 300 ms before the bump: the level it is
    # measured against was still moving. Only a bump strong enough to stand through that motion counts
    # (candidate.reject_reason's rule, over the windows, not only over the bump's own frames).
    t = times(4.5)
    z = np.zeros((len(t), 2))
    z[:, 0] = 6.0
    z[:, 1] = bump(t, 2500.0, 300.0, height)
    excursion = samples(t, z)
    for i, x in enumerate(excursion):
        x.rotation = rotation_deg((TURN_DEG + 2.0) * min(1.0, t[i] / 600.0))
        x.shift = travel if 1900.0 <= t[i] < 2250.0 else 0.0
    out = expressions_in([], excursion, SpottingConfig(threshold=THRESHOLD), lambda sub, ext: ext)
    assert len(out) == found
