"""Optical flow in facial regions, relative to a neutral reference frame.

The landmark model damps small facial motions (its points follow 0.15-0.8 of a
subtle action), while the pixels move with the skin. So each frame's face is
warped to an eye-levelled grey crop (the similarity transform fitted on the
same stable points as align.py), and dense optical flow (OpenCV DIS) is taken
from a neutral reference crop to it. The flow is read at the reference
positions of the landmarks the AU estimates use, and the mean flow over the
nose dorsum and tip is subtracted (nose anchoring: what is left of head motion
after the alignment moves the nose too; expressions barely do). The result is a
displacement per landmark in inter-ocular-distance units, which the same AU
weights as features.py turn into AU estimates (OF-FD / MDMD family).

Measuring against a reference, not frame to frame, keeps a slow onset from
vanishing in the noise of each frame step. The reference is renewed from calm
frames while no event is under way (and when it has gone stale), so drift
(lighting, slow head turns, the mouth's rest after speech) stays short.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge.spotting.align import LEFT_EYE_OUTER, RIGHT_EYE_OUTER, STABLE_POINTS

# Nose dorsum and tip: rigid with the skull, the flow anchor (the bridge
# between the eyes moves with the brows).
NOSE_ANCHOR = (197, 195, 5, 4, 1)
CROP_PX = 112  # side of the square aligned crop
IOD_PX = 48.0  # inter-ocular distance (outer corners) in the crop
EYES_AT = (0.5, 0.3)  # where the midpoint between the eyes sits, as crop fractions
SMOOTH_PX = 5  # box filter over the flow before it is read at the landmarks


def similarity_2d(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares 2-D similarity src -> dst as a 2x3 matrix (closed form; no SVD needed in 2-D)."""
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    s0, d0 = src - mu_s, dst - mu_d
    norm = float((s0 * s0).sum())
    if norm <= 0:
        raise ValueError("similarity_2d: source points coincide")
    a = float((s0 * d0).sum()) / norm
    b = float((s0[:, 0] * d0[:, 1] - s0[:, 1] * d0[:, 0]).sum()) / norm
    rs = np.array([[a, -b], [b, a]])
    return np.hstack([rs, (mu_d - rs @ mu_s)[:, None]])


class FaceFlow:
    """Aligned grey crops and DIS flow against a neutral reference crop."""

    def __init__(self, rows: np.ndarray, size: int = CROP_PX, iod_px: float = IOD_PX) -> None:
        self.rows = np.asarray(rows, dtype=np.intp)
        self._read = np.concatenate([self.rows, np.asarray(NOSE_ANCHOR, dtype=np.intp)])
        self.size = int(size)
        self.iod_px = float(iod_px)
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        self._dis.setFinestScale(DIS_FINEST_SCALE)
        self._dis.setPatchSize(8)
        self._dis.setPatchStride(4)
        self.reset()

    def reset(self) -> None:
        self._template: np.ndarray | None = None  # stable points' positions in the crop
        self._ref: np.ndarray | None = None
        self._ref_idx: np.ndarray | None = None  # (k + anchors, 2) integer read positions

    @property
    def has_template(self) -> bool:
        return self._template is not None

    @property
    def has_reference(self) -> bool:
        return self._ref is not None

    def _fit_template(self, xy: np.ndarray) -> None:
        r, l = xy[RIGHT_EYE_OUTER], xy[LEFT_EYE_OUTER]
        ex = (l - r) / np.linalg.norm(l - r)
        ey = np.array([-ex[1], ex[0]])
        centre = np.array([EYES_AT[0], EYES_AT[1]]) * self.size
        rel = xy[STABLE_POINTS] - (l + r) / 2.0
        scale = self.iod_px / float(np.linalg.norm(l - r))
        self._template = centre + scale * np.stack([rel @ ex, rel @ ey], axis=1)

    def transform(self, landmarks: np.ndarray) -> np.ndarray:
        """2x3 similarity from image pixels to the aligned crop, fitted on these landmarks' stable points."""
        xy = np.asarray(landmarks, dtype=np.float64)[:, :2]
        if self._template is None:
            self._fit_template(xy)
        assert self._template is not None
        return similarity_2d(xy[STABLE_POINTS], self._template)

    def crop_with(self, image: np.ndarray, m: np.ndarray) -> np.ndarray:
        """The grey crop of a frame under transform `m`."""
        # Crop the colour image first, then grey: converting the whole frame costs more.
        patch = cv2.warpAffine(image, m, (self.size, self.size), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)
        return cv2.cvtColor(patch, cv2.COLOR_RGB2GRAY) if patch.ndim == 3 else patch

    def points(self, landmarks: np.ndarray, m: np.ndarray) -> np.ndarray:
        """Positions (rows + anchors) of these landmarks in a crop taken with `m`."""
        xy = np.asarray(landmarks, dtype=np.float64)[self._read, :2]
        return xy @ m[:, :2].T + m[:, 2]

    def crop(self, image: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The eye-levelled grey face crop of a frame and its landmark positions (rows + anchors) in it."""
        m = self.transform(landmarks)
        return self.crop_with(image, m), self.points(landmarks, m)

    def set_reference(self, grey: np.ndarray, points: np.ndarray) -> None:
        """Make this crop the neutral reference; flow is read at these landmark positions."""
        self._ref = grey
        self._ref_idx = np.clip(np.rint(points), 0, self.size - 1).astype(np.intp)

    def raw_flow(self, grey: np.ndarray) -> np.ndarray | None:
        """Smoothed flow from the reference to `grey`, read at the reference positions (k + anchors, 2), pixels."""
        if self._ref is None or self._ref_idx is None:
            return None
        flow = self._dis.calc(self._ref, grey, None)
        flow = cv2.blur(flow, (SMOOTH_PX, SMOOTH_PX))
        return flow[self._ref_idx[:, 1], self._ref_idx[:, 0]].astype(np.float64)

    def displacement(self, at: np.ndarray, correction: np.ndarray | None = None) -> np.ndarray:
        """Displacement (k, 3) in IOD units of each row landmark from the reference, nose-anchored.

        `correction` (2x3) maps the crop the flow was taken on to the properly
        aligned one, for a crop taken from the previous frame's landmarks.
        """
        if correction is not None:
            assert self._ref_idx is not None
            start = self._ref_idx.astype(np.float64)
            at = (start + at) @ correction[:, :2].T + correction[:, 2] - start
        k = len(self.rows)
        d = at[:k] - at[k:].mean(axis=0)
        out = np.zeros((k, 3))
        out[:, :2] = d / self.iod_px
        return out

    def measure(self, grey: np.ndarray) -> np.ndarray | None:
        """Displacement (k, 3) in IOD units of each row landmark from the reference, nose-anchored."""
        at = self.raw_flow(grey)
        return None if at is None else self.displacement(at)


def compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """2x3 affine `outer` after `inner`."""
    return np.hstack([outer[:, :2] @ inner[:, :2], (outer[:, :2] @ inner[:, 2] + outer[:, 2])[:, None]])


def invert(m: np.ndarray) -> np.ndarray:
    """Inverse of a 2x3 affine."""
    a = np.linalg.inv(m[:, :2])
    return np.hstack([a, (-a @ m[:, 2])[:, None]])


@dataclass(slots=True)
class EarlyFlow:
    """A frame's crop taken from the previous frame's landmarks and its flow, computed on the side thread."""

    grey: np.ndarray
    m: np.ndarray  # image -> crop transform it was taken with
    at: np.ndarray | None  # raw flow at the reference positions (None without a reference)


REFRESH_MS = 1000.0  # the reference is renewed at most this often, from calm frames
DRIFT_MS = 700.0  # flow alone keeping frames from calm this long (landmarks calm): a stale reference
DRIFT_LANDMARKS = 0.7  # ... "landmarks calm": their score under this share of the threshold
POOL = 4  # calm crops averaged into a reference (less pixel noise than one frame)
INTERVAL_MS = 0.0  # flow is computed at most this often (the last estimate holds in between)
DIS_FINEST_SCALE = 1  # DIS pyramid level the flow stops at (0 = full crop resolution)


class FlowChannel:
    """AU estimates from region flow, with the neutral reference kept fresh from calm frames.

    `update` gives this frame's estimates (zeros until a reference exists);
    the spotter calls `calm` on frames with no event, blink or talking, and the
    reference is renewed from the last few of those at most every REFRESH_MS.
    """

    def __init__(self, rows: np.ndarray, weights: np.ndarray) -> None:
        self.flow = FaceFlow(rows)
        self.weights = weights
        self.reset()

    def reset(self) -> None:
        self.flow.reset()
        self._grey: np.ndarray | None = None
        self._points: np.ndarray | None = None
        self._pool: list[tuple[np.ndarray, np.ndarray]] = []
        self._refreshed_ms = -np.inf
        self.reference_ms = -np.inf
        self._computed_ms = -np.inf
        self._last = np.zeros(len(self.weights))
        self._drift_since: float | None = None

    def early(self, image: np.ndarray, guide: np.ndarray) -> EarlyFlow | None:
        """Crop and flow from the previous frame's landmarks (`guide`): safe to run on the side
        thread while the landmark model works, as nothing here changes the channel's state.
        None before the first frame has fixed the crop's geometry."""
        if not self.flow.has_template:
            return None
        m = self.flow.transform(guide)
        grey = self.flow.crop_with(image, m)
        return EarlyFlow(grey, m, self.flow.raw_flow(grey))

    def update(self, t_ms: float, image: np.ndarray, landmarks: np.ndarray, early: EarlyFlow | None = None) -> np.ndarray:
        """This frame's flow AU estimates; `early` is its crop and flow already taken on the side thread."""
        if t_ms - self._computed_ms < INTERVAL_MS:
            return self._last
        self._computed_ms = t_ms
        m = self.flow.transform(landmarks)
        if early is None:
            self._grey, self._points = self.flow.crop_with(image, m), self.flow.points(landmarks, m)
            correction = None
        else:
            # Positions in the crop as taken; the flow is carried to the crop these landmarks align.
            self._grey, self._points = early.grey, self.flow.points(landmarks, early.m)
            correction = compose(m, invert(early.m))
        if not self.flow.has_reference:
            self.flow.set_reference(self._grey, self._points)
            self._refreshed_ms = self.reference_ms = t_ms
            at = None  # the reference itself: no motion
        else:
            at = self.flow.raw_flow(self._grey) if early is None else early.at
        d = self.flow.displacement(at, correction) if at is not None else None
        self._last = self.weights @ d.ravel() if d is not None else np.zeros(len(self.weights))
        return self._last

    def calm(self, t_ms: float) -> bool:
        """This frame was neutral: pool it; renew the reference when due. True if renewed."""
        if self._grey is None or self._points is None:
            return False
        self._pool.append((self._grey, self._points))
        del self._pool[:-POOL]
        if t_ms - self._refreshed_ms < REFRESH_MS or len(self._pool) < POOL:
            return False
        grey = np.mean([g for g, _ in self._pool], axis=0).astype(np.uint8)
        points = np.mean([p for _, p in self._pool], axis=0)
        self.flow.set_reference(grey, points)
        self._refreshed_ms = self.reference_ms = t_ms
        return True

    def drifted(self, t_ms: float, score: float, landmark_score: float, threshold: float, blinking: bool) -> bool:
        """Renew a stale reference; True when it was (the spotter drops the excursion).

        The reference is renewed only on calm frames, and a frame is calm only
        if the flow agrees; when the face's rest appearance changes (the mouth
        settles differently after talking, the lighting shifts) the flow would
        hold the score up for good. Flow alone keeping the frames from being
        calm for longer than any micro expression (blinks aside) while the
        landmarks stay calm is such a drift.
        """
        if landmark_score >= DRIFT_LANDMARKS * threshold or (score < 0.5 * threshold and not blinking):
            self._drift_since = None
            return False
        if self._drift_since is None:
            self._drift_since = t_ms
        if t_ms - self._drift_since < DRIFT_MS:
            return False
        self.renew(t_ms)
        self._drift_since = None
        return True

    def renew(self, t_ms: float) -> None:
        """Make the current crop the reference now (the old one went stale)."""
        if self._grey is not None and self._points is not None:
            self.flow.set_reference(self._grey, self._points)
            self._refreshed_ms = self.reference_ms = t_ms
        self._pool.clear()

    def interrupt(self) -> None:
        """Calm run broken (an event, a blink): pooled crops must be consecutive calm ones."""
        self._pool.clear()
