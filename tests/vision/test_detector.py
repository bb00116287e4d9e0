from __future__ import annotations

import numpy as np

from edge.vision.detector import FaceDetector, ssd_anchors, weighted_nms
from edge.vision.models import load_manifest, verify
from edge.vision.runtime import load_interpreter
from fixtures.footage import astronaut_face


def test_anchor_grid_matches_blazeface_short_range():
    a = ssd_anchors()
    assert a.shape == (896, 2)
    # 16x16 cells with 2 anchors, then 8x8 cells with 6.
    assert np.allclose(a[0], [0.5 / 16, 0.5 / 16]) and np.allclose(a[1], a[0])
    assert np.allclose(a[512], [0.5 / 8, 0.5 / 8]) and np.allclose(a[517], a[512])
    assert np.allclose(a[-1], [7.5 / 8, 7.5 / 8])


def test_weighted_nms_merges_overlaps_by_score():
    boxes = np.array([[0, 0, 1, 1], [0.1, 0, 1.1, 1], [5, 5, 6, 6]], dtype=np.float32)
    kps = np.zeros((3, 6, 2), np.float32)
    out = weighted_nms(boxes, kps, np.array([0.9, 0.3, 0.8]))
    assert len(out) == 2
    score, box, _ = out[0]
    assert score == 0.9
    assert np.isclose(box[0], (0 * 0.9 + 0.1 * 0.3) / 1.2)


def _detector() -> FaceDetector:
    m = load_manifest()
    return FaceDetector(load_interpreter(verify(m, "face_detection"), 1))


def test_finds_the_astronaut_and_her_eyes():
    det = _detector()
    img = np.full((480, 640, 3), 40, np.uint8)
    img[:, 80:560] = astronaut_face(480)
    faces = det.detect(img)
    assert len(faces) == 1
    x0, y0, x1, y1 = faces[0].box
    assert faces[0].score > 0.8
    # The face sits in the upper middle of the crop; eyes inside the box, left eye left.
    assert 150 < (x0 + x1) / 2 < 450 and 60 < (y0 + y1) / 2 < 300
    (lx, ly), (rx, ry) = faces[0].keypoints[:2]
    assert x0 < lx < rx < x1 and y0 < ly < y1


def test_blank_image_has_no_face():
    assert _detector().detect(np.full((480, 640, 3), 128, np.uint8)) == []
