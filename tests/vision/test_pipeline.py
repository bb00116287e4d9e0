from __future__ import annotations

import sys

import cv2
import numpy as np
import pytest

from edge.sources.frame import Frame
from edge.vision.emotion import LABELS
from edge.vision.geometry import Roi, follow
from edge.vision.pipeline import FacePipeline
from fixtures.footage import astronaut_face


def _frame(img: np.ndarray, i: int = 0) -> Frame:
    return Frame(img, i * 8_333_333, i)


def _scene(angle: float = 0.0) -> np.ndarray:
    img = np.full((480, 640, 3), 40, np.uint8)
    img[:, 80:560] = astronaut_face(480)
    if angle:
        m = cv2.getRotationMatrix2D((320, 200), angle, 1.0)
        img = cv2.warpAffine(img, m, (640, 480), borderMode=cv2.BORDER_REFLECT)
    return img


def test_tracks_after_first_detection(pipeline):
    pipeline.reset()
    img = _scene()
    first = pipeline.process(_frame(img, 0))
    second = pipeline.process(_frame(img, 1))
    assert first.face and first.detected
    assert second.face and not second.detected, "the second frame must track, not detect"
    assert first.landmarks.shape == (468, 3)
    # Same image twice: tracking converges on the same landmarks (sub-pixel).
    assert np.abs(first.landmarks[:, :2] - second.landmarks[:, :2]).mean() < 1.0
    assert set(second.timings_ms) >= {"landmarks", "pose"}


def test_roll_follows_image_rotation(pipeline):
    rolls = []
    for angle in (-15.0, 0.0, 15.0):
        pipeline.reset()
        res = pipeline.process(_frame(_scene(angle)))
        assert res.face
        rolls.append(res.pose.roll)
    # cv2 rotates counter-clockwise for positive angles: the eye line turns by -angle.
    assert abs((rolls[0] - rolls[1]) - 15.0) < 3.0
    assert abs((rolls[1] - rolls[2]) - 15.0) < 3.0


def test_emotion_softmax_on_aligned_face(pipeline):
    pipeline.reset()
    res = pipeline.process(_frame(_scene()))
    assert res.emotion is not None, "the CNN runs on a detection frame"
    assert res.emotion.shape == (len(LABELS),)
    assert abs(float(res.emotion.sum()) - 1.0) < 1e-3
    crop = pipeline.emotion.aligned_face(_scene(), res.landmarks)
    assert crop.shape == (64, 64) and crop.std() > 10, "a face, not a flat patch"


def test_emotion_runs_every_n_frames_and_on_demand(pipeline):
    pipeline.reset()
    img = _scene()
    ran = [pipeline.process(_frame(img, i)).emotion is not None for i in range(9)]
    assert ran == [True, False, False, False, True, False, False, False, True]
    res = pipeline.process(_frame(img, 9))
    assert res.emotion is None
    assert pipeline.classify_emotion(_frame(img, 9), res) is not None


def test_no_face_then_face(pipeline):
    pipeline.reset()
    blank = pipeline.process(_frame(np.full((480, 640, 3), 90, np.uint8)))
    assert not blank.face and blank.detected and blank.landmarks is None
    assert pipeline.process(_frame(_scene(), 1)).face


def test_side_thread_runs_emotion_every_n_frames_from_the_previous_landmarks(pipeline, side_pipeline):
    """The side thread crops from the last frame's landmarks while the landmark model runs:
    the same schedule, and (the face moving a little per frame) the same answer."""
    frames = [_frame(_scene(angle), i) for i, angle in enumerate(np.linspace(-4.0, 4.0, 9))]
    pipeline.reset()
    side_pipeline.reset()
    plain = [pipeline.process(f) for f in frames]
    side = [side_pipeline.process(f) for f in frames]
    assert [r.emotion is not None for r in side] == [r.emotion is not None for r in plain]
    for a, b in zip(plain, side):
        np.testing.assert_allclose(a.landmarks, b.landmarks, atol=1e-4)
        if a.emotion is not None:
            assert np.abs(a.emotion - b.emotion).max() < 0.05, (a.emotion, b.emotion)
    assert side[4].timings_ms["emotion"] > 0
    side_pipeline.close()
    side_pipeline.close()  # idempotent
    assert side_pipeline.side is None
    assert side_pipeline.process(frames[0]).face  # without the thread it still works, synchronously


def test_side_thread_shortens_the_gil_switch_interval_until_closed():
    """The process-wide GIL switch interval is the pipeline's only while its side thread runs."""
    before = sys.getswitchinterval()
    p = FacePipeline(side_thread=True, gil_switch_ms=0.5)
    try:
        assert sys.getswitchinterval() == pytest.approx(0.0005)
    finally:
        p.close()
    assert sys.getswitchinterval() == pytest.approx(before)
    plain = FacePipeline(gil_switch_ms=0.5)  # no side thread: nothing to contend with, left alone
    assert sys.getswitchinterval() == pytest.approx(before)
    plain.close()


@pytest.mark.parametrize("identity", ["hopper", "astronaut"])
def test_tracking_a_still_face_settles_instead_of_oscillating(pipeline, identity):
    """Cropping from the landmarks the crop produced is a feedback loop; undamped, on the still
    hopper face, it oscillated frame to frame by 0.8 % of the eye distance (the astronaut's by
    0.01 %), which the spotter took for noise and missed subtle expressions under."""
    from edge.synth.render import Scene, SynthSpec

    pipeline.reset()
    img = Scene(SynthSpec(out_dir="unused", identity=identity)).canvas
    lms = np.array([pipeline.process(_frame(img, i)).landmarks[:, :2] for i in range(30)])
    iod = np.linalg.norm(lms[-1, 263] - lms[-1, 33])
    step = np.abs(np.diff(lms[10:], axis=0)).mean() / iod
    assert step < 0.0005, f"still face: landmarks move {1000 * step:.2f} thousandths of the eye distance per frame"


def test_region_follows_quick_motion_at_once_and_small_changes_part_way():
    prev = Roi(100.0, 100.0, 200.0, 0.0)
    small = follow(prev, Roi(104.0, 100.0, 202.0, 0.02), gain=0.5, jump=0.08)
    assert (small.cx, small.cy, small.size) == pytest.approx((102.0, 100.0, 201.0))
    assert small.angle == pytest.approx(0.01)
    quick = Roi(130.0, 100.0, 200.0, 0.0)  # 15 % of the size in one frame: a quick turn
    assert follow(prev, quick, gain=0.5, jump=0.08) == quick
    assert follow(None, small, gain=0.5, jump=0.08) == small
    across = follow(Roi(0, 0, 100, 3.1), Roi(0, 0, 100, -3.1), gain=0.5, jump=0.08)  # through +/-pi, not around
    assert abs(abs(across.angle) - np.pi) < 0.05
