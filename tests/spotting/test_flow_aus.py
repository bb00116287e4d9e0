"""Unmixing the flow AU estimates into per-action intensities."""

from __future__ import annotations

import numpy as np

from edge.spotting.features import AU_INDEX
from edge.spotting.flow_aus import FLOW_RESPONSE, flow_intensities, nnls


def mix(**aus: float) -> np.ndarray:
    x = np.zeros(FLOW_RESPONSE.shape[1])
    for name, v in aus.items():
        x[AU_INDEX[name]] = v
    return x


def test_nnls_recovers_a_nonnegative_mix_and_clips_negative_parts() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(12, 5))
    x = np.array([0.0, 0.7, 0.0, 0.2, 1.3])
    np.testing.assert_allclose(nnls(a, a @ x), x, atol=1e-9)
    # The unconstrained least-squares answer has a negative part; NNLS sets it to 0.
    b = a @ np.array([1.0, -0.5, 0.0, 0.0, 0.0])
    got = nnls(a, b)
    assert np.all(got >= 0) and got[1] == 0.0


def test_a_smile_is_read_as_lip_corner_pull_not_lip_stretch() -> None:
    # A smile pulls the corners out as well as up: the raw lip-stretch (AU20)
    # estimate reads as high as the corner-pull ones.
    truth = mix(R12=0.5, L12=0.5, AU6=0.4)
    reading = FLOW_RESPONSE @ truth
    assert reading[AU_INDEX["AU20"]] > reading[AU_INDEX["R12"]]
    got = flow_intensities(reading, np.full(len(reading), 0.001))
    assert got[AU_INDEX["R12"]] > 0.35 and got[AU_INDEX["L12"]] > 0.35 and got[AU_INDEX["AU6"]] > 0.25
    assert got[AU_INDEX["AU20"]] < 0.1


def test_one_sided_action_stays_one_sided_under_noise() -> None:
    rng = np.random.default_rng(1)
    truth = mix(L12=0.5, L14=0.5)  # contempt, left side
    sigma = np.full(FLOW_RESPONSE.shape[0], 0.001)
    wins = 0
    for _ in range(50):
        got = flow_intensities(FLOW_RESPONSE @ truth + rng.normal(0.0, 0.001, len(sigma)), sigma)
        wins += got[AU_INDEX["L12"]] + got[AU_INDEX["L14"]] > 2 * (got[AU_INDEX["R12"]] + got[AU_INDEX["R14"]])
    assert wins >= 45


def test_no_motion_reads_as_no_action() -> None:
    got = flow_intensities(np.zeros(FLOW_RESPONSE.shape[0]), np.full(FLOW_RESPONSE.shape[0], 0.001))
    assert not got.any()
