"""The mesh warper: still where nothing moves, moves content by the field where something does."""

from __future__ import annotations

import cv2
import numpy as np

from edge.synth.faces import load_identity
from edge.synth.warp import MeshWarper, face_region


def _warper() -> MeshWarper:
    ident = load_identity("hopper")
    return MeshWarper(ident.image, ident.landmarks)


def test_region_covers_the_face_with_room_below():
    ident = load_identity("hopper")
    r = face_region(ident.landmarks, ident.image.shape[:2])
    lo, hi = ident.landmarks.min(0), ident.landmarks.max(0)
    assert r.x0 < lo[0] and r.y0 < lo[1] and r.x1 > hi[0] and r.y1 > hi[1]
    assert (r.y1 - hi[1]) > (lo[1] - r.y0)  # a dropping jaw needs more room than the forehead


def test_mesh_covers_every_pixel_and_zero_field_is_identity():
    w = _warper()
    assert len(w.triangles) > 800
    assert np.all(np.abs(w._bary.sum(1) - 1) < 1e-4)  # every pixel lies in a triangle
    assert w.field({}) is None
    assert np.array_equal(w.render(None), w.neutral_roi)
    w.cache_field("zero", np.zeros((468, 2), np.float32))
    assert w.field({"zero": 1.0}) is None


def test_uniform_shift_moves_the_inside_by_that_shift():
    w = _warper()
    shift = np.tile(np.array([[3.0, -2.0]], np.float32), (468, 1))
    w.cache_field("shift", shift)
    dense = w.dense(shift)
    h, wd = dense.shape[:2]
    inside = np.zeros((h, wd), np.uint8)
    cv2.fillConvexPoly(inside, cv2.convexHull(np.round(w.points[:468]).astype(np.int32)), 1)
    inside = cv2.erode(inside, np.ones((9, 9), np.uint8)).astype(bool)
    assert inside.sum() > 20000
    assert np.allclose(dense[inside], [3.0, -2.0], atol=1e-3)  # inside the face hull: exactly the shift
    assert np.abs(dense[0, :]).max() < 0.01 and np.abs(dense[-1, :]).max() < 0.01  # the border ring stays put
    out = w.render(w.field({"shift": 1.0})).astype(np.float32)
    src = w.neutral_roi.astype(np.float32)
    # content at p moved to p + (3, -2): out[y - 2, x + 3] == src[y, x] inside the face
    ys, xs = np.nonzero(inside)
    assert np.abs(out[ys - 2, xs + 3] - src[ys, xs]).mean() < 2.0
    assert np.abs(out[ys, xs] - src[ys, xs]).mean() > 5.0
