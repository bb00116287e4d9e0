"""Identities: real photos from installed packages, with stored neutral landmarks that match them."""

from __future__ import annotations

import numpy as np
import pytest

from edge.errors import InputError
from edge.synth.faces import IDENTITIES, load_identity, measure_landmarks


@pytest.mark.parametrize("name", list(IDENTITIES))
def test_identity_loads_with_landmarks_on_its_face(name: str):
    ident = load_identity(name)
    h, w = ident.image.shape[:2]
    assert ident.image.dtype == np.uint8 and ident.image.shape[2] == 3
    assert ident.landmarks.shape == (468, 2)
    assert (ident.landmarks >= 0).all() and (ident.landmarks[:, 0] < w).all() and (ident.landmarks[:, 1] < h).all()
    assert ident.eye_distance > 50  # a usable face, not a thumbnail
    # subject's right eye corner (33) is on the image left, for mirrored photos too
    assert ident.landmarks[33, 0] < ident.landmarks[263, 0]


def test_stored_landmarks_match_the_product_pipeline():
    ident = load_identity("astronaut")
    measured = measure_landmarks(ident.image)
    err = np.linalg.norm(measured - ident.landmarks, axis=1).mean() / ident.eye_distance
    assert err < 0.03, err


def test_mirrored_identity_is_the_same_photo_flipped():
    a, m = load_identity("astronaut"), load_identity("astronaut-mirror")
    assert np.array_equal(m.image, a.image[:, ::-1])
    w = a.image.shape[1]
    # the nose tip mirrors onto itself; the eye corners swap sides
    assert abs((w - 1 - m.landmarks[1, 0]) - a.landmarks[1, 0]) < 3
    assert abs((w - 1 - m.landmarks[263, 0]) - a.landmarks[33, 0]) < 4
    assert "mirrored" in m.source and "mirrored" not in a.source


def test_unknown_identity():
    with pytest.raises(InputError, match="unknown identity 'cat'"):
        load_identity("cat")
