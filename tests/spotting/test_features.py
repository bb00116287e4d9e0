"""AU estimates: each FACS action moves its own estimate, independent of pose and face size."""

from __future__ import annotations

import numpy as np
import pytest

from edge.spotting.align import Aligner
from edge.spotting.features import AU_INDEX, AU_NAMES, FeatureExtractor

from .conftest import au_displacement, rigid

# Action (as the test applies it) -> the estimate that must respond most, relative to its full scale.
OWN_ESTIMATE = {
    "1": "AU1", "2": "AU2", "4": "AU4", "5": "AU5", "6": "AU6", "7": "AU7", "9": "AU9", "10": "AU10",
    "R12": "R12", "L12": "L12", "R14": "R14", "L14": "L14", "15": "AU15", "16": "AU16", "17": "AU17",
    "20": "AU20", "23": "AU23", "25": "AU25", "26": "AU26", "45": "AU45",
}


def estimates(neutral: np.ndarray, aus: dict[str, float], pose: tuple = (0, 0, 0, 1.0)) -> np.ndarray:
    fx = FeatureExtractor()
    aligner = Aligner(neutral)
    base = fx(aligner.align(neutral).points)
    moved = neutral + au_displacement(neutral, aus)
    yaw, pitch, roll, scale = pose
    return fx(aligner.align(rigid(moved, yaw, pitch, roll, scale, (20.0, -8.0))).points) - base


def test_names_are_the_facs_units_the_spotter_needs() -> None:
    assert len(AU_NAMES) == len(set(AU_NAMES)) == 20
    for needed in ("AU1", "AU2", "AU4", "AU5", "AU6", "AU7", "AU9", "AU10", "R12", "L12", "R14", "L14",
                   "AU15", "AU17", "AU20", "AU23", "AU25", "AU26", "AU45"):
        assert needed in AU_INDEX


@pytest.mark.parametrize("action", sorted(OWN_ESTIMATE))
def test_each_action_raises_its_own_estimate(neutral_landmarks, action) -> None:
    fx = FeatureExtractor()
    d = estimates(neutral_landmarks, {action: 1.0})
    own = AU_INDEX[OWN_ESTIMATE[action]]
    assert d[own] > 0.3 * fx.full_scale[own], f"{action}: {dict(zip(AU_NAMES, np.round(d, 4)))}"


def test_one_sided_smile_is_one_sided(neutral_landmarks) -> None:
    d = estimates(neutral_landmarks, {"L12": 1.0})
    assert d[AU_INDEX["L12"]] > 0.02
    assert abs(d[AU_INDEX["R12"]]) < 0.2 * d[AU_INDEX["L12"]]


def test_estimates_do_not_depend_on_pose_or_face_size(neutral_landmarks) -> None:
    frontal = estimates(neutral_landmarks, {"1": 0.8, "12": 0.6})
    for pose in [(0, 0, 20, 1.0), (0, 0, -8, 0.5), (15, 10, 0, 1.6)]:
        np.testing.assert_allclose(estimates(neutral_landmarks, {"1": 0.8, "12": 0.6}, pose), frontal, atol=1e-9)


def test_estimates_are_linear_in_intensity(neutral_landmarks) -> None:
    half = estimates(neutral_landmarks, {"15": 0.5})
    full = estimates(neutral_landmarks, {"15": 1.0})
    np.testing.assert_allclose(full, 2 * half, atol=1e-9)


def test_decoupling_removes_the_landmark_models_jaw_drag() -> None:
    fx = FeatureExtractor()
    drag = np.zeros(len(AU_NAMES))
    drag[AU_INDEX["AU26"]] = 0.03
    drag[AU_INDEX["AU17"]] = -1.03 * 0.03  # a jaw drop lowers the chin: the model reads chin raise < 0
    drag[AU_INDEX["AU15"]] = 0.37 * 0.03
    out = fx.decouple(drag)
    assert abs(out[AU_INDEX["AU17"]]) < 1e-9 and abs(out[AU_INDEX["AU15"]]) < 1e-9
    assert out[AU_INDEX["AU26"]] == pytest.approx(0.03)


def test_intensities_are_clipped_to_unit_range() -> None:
    fx = FeatureExtractor()
    i = fx.intensities(np.array([-1.0, 10.0] + [0.5 * s for s in fx.full_scale[2:]]))
    assert i[0] == 0.0 and i[1] == 1.0
    np.testing.assert_allclose(i[2:], 0.5)
