"""Region optical flow on a real face photo (scikit-image's astronaut) warped by known motions."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge.spotting.features import AU_INDEX, FeatureExtractor, L_BROW_INNER, L_BROW_OUTER, R_BROW_INNER, R_BROW_OUTER
from edge.spotting.flow import FaceFlow, FlowChannel


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[:, :, :3])


def warp(image: np.ndarray, centres: np.ndarray, shift: tuple[float, float], radius: float) -> np.ndarray:
    """Move the skin around `centres` by `shift` pixels (Gaussian falloff), like a muscle would."""
    h, w = image.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    weight = np.zeros((h, w), np.float32)
    for cx, cy in centres:
        weight = np.maximum(weight, np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * radius**2)))
    # Backward map: the output pixel at p shows the input at p - shift.
    weight = weight.astype(np.float32)
    return cv2.remap(image, xx - np.float32(shift[0]) * weight, yy - np.float32(shift[1]) * weight, cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REFLECT)


def flow_aus(image0: np.ndarray, image1: np.ndarray, lm0: np.ndarray, lm1: np.ndarray) -> np.ndarray:
    fx = FeatureExtractor()
    ff = FaceFlow(fx.landmarks)
    ff.set_reference(*ff.crop(image0, lm0))
    grey, _ = ff.crop(image1, lm1)
    d = ff.measure(grey)
    assert d is not None
    return fx.weights @ d.ravel()


def test_brow_raise_warp_yields_positive_brow_flow(face, neutral_landmarks) -> None:
    lm = neutral_landmarks
    iod = float(np.linalg.norm(lm[263, :2] - lm[33, :2]))
    brows = lm[list(R_BROW_INNER + L_BROW_INNER + R_BROW_OUTER + L_BROW_OUTER), :2]
    lift = 0.03 * iod  # a subtle brow raise: 3 % of the eye distance
    raised = warp(face, brows, (0.0, -lift), radius=0.12 * iod)
    au = flow_aus(face, raised, lm, lm)
    for name in ("AU1", "AU2"):
        assert au[AU_INDEX[name]] > 0.5 * 0.03, (name, au[AU_INDEX[name]])
    # The mouth did not move.
    for name in ("R12", "L12", "AU15", "AU20", "AU25", "AU26"):
        assert abs(au[AU_INDEX[name]]) < 0.005, (name, au[AU_INDEX[name]])


def test_unaligned_head_translation_is_removed_by_nose_anchoring(face, neutral_landmarks) -> None:
    # The face moves 3 px but the landmarks (and so the crop) do not follow:
    # every region's flow is the same translation, which the nose anchor cancels.
    shifted = cv2.warpAffine(face, np.float32([[1, 0, 3.0], [0, 1, -2.0]]), (face.shape[1], face.shape[0]),
                             borderMode=cv2.BORDER_REFLECT)
    au = flow_aus(face, shifted, neutral_landmarks, neutral_landmarks)
    assert np.max(np.abs(au)) < 0.004, dict(zip(AU_INDEX, np.round(au, 4)))
    raw = FaceFlow(FeatureExtractor().landmarks)
    raw.set_reference(*raw.crop(face, neutral_landmarks))
    grey, _ = raw.crop(shifted, neutral_landmarks)
    d = raw._dis.calc(raw._ref, grey, None)
    assert np.median(np.abs(d[..., 0])) > 0.5  # the raw flow did see the translation


def test_aligned_head_translation_and_scale_yield_no_motion(face, neutral_landmarks) -> None:
    m = np.float32([[1.1, 0, -20.0], [0, 1.1, 12.0]])
    moved = cv2.warpAffine(face, m, (face.shape[1], face.shape[0]), borderMode=cv2.BORDER_REFLECT)
    lm1 = neutral_landmarks.copy()
    lm1[:, :2] = neutral_landmarks[:, :2] @ m[:, :2].T + m[:, 2]
    au = flow_aus(face, moved, neutral_landmarks, lm1)
    assert np.max(np.abs(au)) < 0.004, dict(zip(AU_INDEX, np.round(au, 4)))


def test_channel_keeps_its_reference_until_a_calm_run_renews_it(face, neutral_landmarks) -> None:
    fx = FeatureExtractor()
    ch = FlowChannel(fx.landmarks, fx.weights)
    assert not np.any(ch.update(0.0, face, neutral_landmarks))  # the first face becomes the reference
    assert ch.reference_ms == 0.0
    t = 0.0
    for _ in range(3):
        t += 10.0
        ch.update(t, face, neutral_landmarks)
        assert not ch.calm(t)  # too soon, and too few calm frames pooled
    t = 2000.0
    ch.update(t, face, neutral_landmarks)
    ch.interrupt()  # an event broke the calm run: the pool starts over
    assert not ch.calm(t)
    for k in range(1, 4):
        ch.update(t + k, face, neutral_landmarks)
        renewed = ch.calm(t + k)
    assert renewed and ch.reference_ms == t + 3


def test_similarity_2d_matches_umeyama() -> None:
    from edge.spotting.align import umeyama
    from edge.spotting.flow import similarity_2d

    rng = np.random.default_rng(3)
    src = rng.normal(0.0, 50.0, (11, 2))
    ang = np.radians(17.0)
    rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    dst = 0.6 * src @ rot.T + np.array([40.0, -7.0]) + rng.normal(0.0, 0.5, src.shape)
    m = similarity_2d(src, dst)
    ref = umeyama(src, dst)
    np.testing.assert_allclose(m[:, :2], ref.scale * ref.rotation, atol=1e-9)
    np.testing.assert_allclose(m[:, 2], ref.translation, atol=1e-7)


def test_a_stale_reference_is_renewed_only_when_the_flow_alone_holds_the_score_up(face, neutral_landmarks) -> None:
    from edge.spotting.flow import DRIFT_MS

    fx = FeatureExtractor()
    ch = FlowChannel(fx.landmarks, fx.weights)
    ch.update(0.0, face, neutral_landmarks)
    thr = 7.0
    # Flow above half the threshold, landmarks calm: renewed after DRIFT_MS (a blink does not break the run).
    assert not ch.drifted(100.0, 5.0, 1.0, thr, blinking=False)
    assert not ch.drifted(300.0, 0.0, 0.0, thr, blinking=True)
    assert not ch.drifted(100.0 + DRIFT_MS - 1, 5.0, 1.0, thr, blinking=False)
    assert ch.drifted(100.0 + DRIFT_MS, 5.0, 1.0, thr, blinking=False)
    assert ch.reference_ms == 100.0 + DRIFT_MS
    # The landmarks see it too (an expression): never a drift.
    for t in range(2000, 4000, 100):
        assert not ch.drifted(float(t), 9.0, 6.0, thr, blinking=False)


def test_flow_taken_early_from_the_previous_landmarks_matches_flow_taken_after(face, neutral_landmarks) -> None:
    """The side thread crops from the last frame's landmarks; the correction to this frame's
    alignment must give what a crop from this frame's landmarks gives."""
    fx = FeatureExtractor()
    lm = neutral_landmarks
    iod = float(np.linalg.norm(lm[263, :2] - lm[33, :2]))
    brows = lm[list(R_BROW_INNER + L_BROW_INNER + R_BROW_OUTER + L_BROW_OUTER), :2]
    raised = warp(face, brows, (0.0, -0.03 * iod), radius=0.12 * iod)
    # The head moved between frames (a quick nod at 30 fps): the raised face shifted, scaled and turned.
    m = cv2.getRotationMatrix2D((256.0, 200.0), 1.5, 1.02)
    m[:, 2] += (4.0, -3.0)
    moved = cv2.warpAffine(raised, m, (face.shape[1], face.shape[0]), borderMode=cv2.BORDER_REFLECT)
    lm1 = lm.copy()
    lm1[:, :2] = lm[:, :2] @ m[:, :2].T + m[:, 2]

    after, early = FlowChannel(fx.landmarks, fx.weights), FlowChannel(fx.landmarks, fx.weights)
    for ch in (after, early):
        ch.update(0.0, face, lm)  # the neutral reference
    assert early.early(moved, lm) is not None
    want = after.update(10.0, moved, lm1)
    got = early.update(10.0, moved, lm1, early.early(moved, lm))  # guided by the previous frame's landmarks
    for name in ("AU1", "AU2"):
        assert want[AU_INDEX[name]] > 0.5 * 0.03
    # DIS itself differs by ~0.15 px on a shifted crop: 0.003 IOD, a quarter of a small brow raise.
    np.testing.assert_allclose(got, want, atol=0.0035)
    # Without the correction the head motion would leak into the estimates.
    raw = FaceFlow(fx.landmarks)
    raw.set_reference(*raw.crop(face, lm))
    uncorrected = fx.weights @ raw.measure(raw.crop_with(moved, raw.transform(lm))).ravel()
    assert np.max(np.abs(uncorrected - want)) > 3 * np.max(np.abs(got - want))


def test_early_flow_waits_for_the_first_frame() -> None:
    fx = FeatureExtractor()
    ch = FlowChannel(fx.landmarks, fx.weights)
    assert ch.early(np.zeros((8, 8, 3), np.uint8), np.zeros((468, 3))) is None


def test_a_drift_makes_the_present_rest_the_neutral_a_calm_renewal_keeps_the_learnt_one(face, neutral_landmarks) -> None:
    """A neutral learnt on a deviated face (the first seconds spent talking) holds the flow score up
    once the face rests; the drift renewal must end that, not carry the deviation over."""
    from edge.spotting.baseline import Baseline
    from edge.spotting.features import AU_NAMES
    from edge.spotting.flow import DRIFT_MS, POOL, REFRESH_MS
    from edge.spotting.flow_reference import FlowReference

    n = len(AU_NAMES)
    fx = FeatureExtractor()
    ch = FlowChannel(fx.landmarks, fx.weights)
    ch.update(0.0, face, neutral_landmarks)
    rng = np.random.default_rng(4)
    base = Baseline(2 * n, 4000.0, 0.001, min_ms=100.0)
    for t in range(0, 1000, 10):
        base.add(float(t), np.concatenate([rng.normal(0.0, 0.001, n), rng.normal(0.02, 0.001, n)]))
    assert base.ready and np.allclose(base.median[n:], 0.02, atol=0.001)
    landmarks_before = base.median[:n].copy()
    ref = FlowReference(ch, base, n)

    # Calm frames measuring 0.015 against the old reference renew it: the learnt neutral keeps its
    # meaning (0.005 above what the new reference's frames measure).
    for i in range(POOL):
        ref.calm(REFRESH_MS + 10.0 * i, np.full(n, 0.015))
    assert ch.reference_ms == REFRESH_MS + 10.0 * (POOL - 1)
    np.testing.assert_allclose(base.median[n:], 0.005, atol=0.001)

    # The flow alone holds the score up while the landmarks are calm: a drift. The face's present
    # rest becomes the neutral, whatever it measured against the stale reference.
    t0 = 3000.0
    assert not ref.drifted(t0, 5.0, 1.0, 7.0, blinking=False)
    assert ref.drifted(t0 + DRIFT_MS, 5.0, 1.0, 7.0, blinking=False)
    np.testing.assert_allclose(base.median[n:], 0.0, atol=1e-12)
    np.testing.assert_array_equal(base.median[:n], landmarks_before)
    base.recompute(t0 + DRIFT_MS)  # the stored neutral frames moved with it
    np.testing.assert_allclose(base.median[n:], 0.0, atol=0.001)
