"""Similarity alignment: rigid head motion disappears, expression stays."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edge.spotting.align import STABLE_POINTS, Aligner, face_frame, rotation_angle_deg, umeyama

from .conftest import au_displacement, rigid


def test_umeyama_recovers_a_known_similarity() -> None:
    rng = np.random.default_rng(1)
    src = rng.normal(size=(20, 3))
    a = math.radians(30)
    rot = np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])
    dst = 2.5 * src @ rot.T + np.array([3.0, -1.0, 0.5])
    fit = umeyama(src, dst)
    assert fit.scale == pytest.approx(2.5, rel=1e-9)
    np.testing.assert_allclose(fit.rotation, rot, atol=1e-9)
    np.testing.assert_allclose(fit.apply(src), dst, atol=1e-9)


@pytest.mark.parametrize("yaw,pitch,roll,scale", [(0, 0, 25, 1.0), (0, 0, -10, 0.6), (20, -15, 5, 1.7), (-30, 10, 0, 1.2)])
def test_alignment_removes_pure_rotation_and_scale(neutral_landmarks, yaw, pitch, roll, scale) -> None:
    aligner = Aligner(neutral_landmarks)
    ref = aligner.align(neutral_landmarks).points
    moved = rigid(neutral_landmarks, yaw, pitch, roll, scale, shift=(37.0, -12.0))
    out = aligner.align(moved)
    np.testing.assert_allclose(out.points, ref, atol=1e-9)
    assert out.residual < 1e-9
    assert out.scale == pytest.approx(scale * aligner.align(neutral_landmarks).scale, rel=1e-9)
    # The head rotation reported is the one applied, relative to the neutral frame.
    still = aligner.align(neutral_landmarks).rotation
    assert rotation_angle_deg(still, out.rotation) == pytest.approx(
        rotation_angle_deg(np.eye(3), _rot(yaw, pitch, roll)), abs=1e-6)


def _rot(yaw: float, pitch: float, roll: float) -> np.ndarray:
    y, p, r = (math.radians(v) for v in (yaw, pitch, roll))
    ry = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    rx = np.array([[1, 0, 0], [0, math.cos(p), -math.sin(p)], [0, math.sin(p), math.cos(p)]])
    rz = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    return rz @ rx @ ry


def test_expression_survives_alignment_under_head_motion(neutral_landmarks) -> None:
    """A smile turned and scaled is still the same smile in the face frame."""
    aligner = Aligner(neutral_landmarks)
    ref = aligner.align(neutral_landmarks).points
    smile = neutral_landmarks + au_displacement(neutral_landmarks, {"12": 1.0})
    straight = aligner.align(smile).points - ref
    turned = aligner.align(rigid(smile, 15, -10, 20, 0.7, (5, 5))).points - ref
    assert np.abs(straight[61, :2]).max() > 0.02  # the lip corner moved, in IOD units
    np.testing.assert_allclose(turned, straight, atol=2e-3)


def test_face_frame_is_in_inter_ocular_units_with_the_eye_line_horizontal(neutral_landmarks) -> None:
    ff = face_frame(rigid(neutral_landmarks, 0, 0, 33, 2.0))
    assert np.linalg.norm(ff[263] - ff[33]) == pytest.approx(1.0)
    assert ff[263, 1] == pytest.approx(ff[33, 1], abs=1e-9)
    assert ff[263, 0] > ff[33, 0]
    assert ff[152, 1] > ff[10, 1]  # chin below forehead: y runs down the face


def test_residual_flags_a_non_rigid_change_of_the_stable_points(neutral_landmarks) -> None:
    aligner = Aligner(neutral_landmarks)
    bent = neutral_landmarks.copy()
    iod = np.linalg.norm(neutral_landmarks[263] - neutral_landmarks[33])
    bent[STABLE_POINTS[:2], 1] += 0.1 * iod
    assert aligner.align(bent).residual > 0.02


def test_bad_reference_is_refused() -> None:
    with pytest.raises(ValueError):
        Aligner(np.zeros((10, 3)))


def test_aligning_a_subset_gives_the_same_points(neutral_landmarks) -> None:
    aligner = Aligner(neutral_landmarks)
    moved = rigid(neutral_landmarks + au_displacement(neutral_landmarks, {"15": 1.0}), 10, 5, -7, 1.3)
    rows = np.array([61, 291, 0, 17, 152, 105])
    full, part = aligner.align(moved), aligner.align(moved, rows=rows)
    np.testing.assert_allclose(part.points, full.points[rows], atol=1e-12)
    assert part.residual == pytest.approx(full.residual)
