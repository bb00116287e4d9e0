"""Expression flow of a real face: measured from a neutral frame to each episode frame, moved onto another frame.

Why this shape: the texture must stay real skin and the motion real muscle, so
nothing is rendered -- a neutral frame of the same person is resampled along the
dense optical flow (DIS) that the real expression produced. Head motion is
kept out of that flow twice: the episode frame is first aligned to the neutral
reference by a similarity fitted to rigid landmarks (eye corners, nose, brow
line, temples; they do not move with an expression), then whatever rigid
motion the flow still carries (landmark jitter, a little parallax) is fitted on
those same points and subtracted. What is left is the expression alone, masked
to the face. To insert it into another neutral frame of the clip, the field is
carried over by the similarity between the two neutral faces; the target's own
head motion is untouched.

Fields are *backward*: ``field(x)`` says where output pixel x samples the
neutral frame (``E(x) ~ R(x + field(x))``), so a warp is one cv2.remap and
scaling the field scales the expression.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# FaceMesh points that an expression barely moves: eye corners, nose bridge and tip, mid forehead, temples.
RIGID = (33, 133, 362, 263, 168, 6, 197, 195, 5, 4, 1, 10, 151, 9, 8, 127, 356, 234, 454)
RIGHT_EYE_OUTER, LEFT_EYE_OUTER = 33, 263


def iod(landmarks: np.ndarray) -> float:
    """Inter-ocular distance (outer eye corners), the face unit."""
    return float(np.linalg.norm(landmarks[LEFT_EYE_OUTER] - landmarks[RIGHT_EYE_OUTER]))


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2x3 similarity taking the rigid landmarks of `src` onto those of `dst` (least squares, robust to one outlier)."""
    a = np.asarray(src, dtype=np.float32)[list(RIGID)]
    b = np.asarray(dst, dtype=np.float32)[list(RIGID)]
    m, _ = cv2.estimateAffinePartial2D(a, b, method=cv2.LMEDS)
    if m is None:  # degenerate: fall back to translation
        m = np.array([[1, 0, 0], [0, 1, 0]], dtype=np.float64)
        m[:, 2] = (b - a).mean(axis=0)
    return m.astype(np.float64)


@dataclass(frozen=True)
class Box:
    x0: int
    y0: int
    x1: int
    y1: int

    def crop(self, image: np.ndarray) -> np.ndarray:
        return image[self.y0 : self.y1, self.x0 : self.x1]


def face_box(landmarks: np.ndarray, shape: tuple[int, int], margin: float = 0.25) -> Box:
    """The landmarks' box grown by `margin` of its size, clipped to the frame."""
    h, w = shape
    lo, hi = landmarks.min(axis=0), landmarks.max(axis=0)
    pad = margin * (hi - lo)
    return Box(int(max(0, lo[0] - pad[0])), int(max(0, lo[1] - pad[1])),
               int(min(w, hi[0] + pad[0] + 1)), int(min(h, hi[1] + pad[1] + 1)))


def face_mask(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) float32 in 0..1: the landmarks' hull, grown a little and feathered, so the flow fades out at the face edge."""
    h, w = shape
    mask = np.zeros((h, w), dtype=np.uint8)
    hull = cv2.convexHull(np.round(landmarks).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 255)
    unit = max(2.0, iod(landmarks))
    grow = max(1, int(0.08 * unit))
    mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1)))
    soft = cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (0, 0), sigmaX=0.1 * unit)
    soft[soft < 0.01] = 0.0
    return soft


class ExpressionFlow:
    """The expression fields of one episode, relative to its neutral reference frame."""

    def __init__(self, reference: np.ndarray, ref_landmarks: np.ndarray) -> None:
        self.reference = reference
        self.ref_landmarks = np.asarray(ref_landmarks, dtype=np.float32)
        shape = reference.shape[:2]
        self.box = face_box(self.ref_landmarks, shape)
        self.mask = self.box.crop(face_mask(self.ref_landmarks, shape))
        self._ref_grey = cv2.cvtColor(self.box.crop(reference), cv2.COLOR_RGB2GRAY)
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        self._dis.setUseSpatialPropagation(True)
        off = np.array([self.box.x0, self.box.y0], dtype=np.float32)
        self._rigid_local = self.ref_landmarks[list(RIGID)] - off

    def field(self, frame: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """(h, w, 2) float32 backward field over the box: where the expression at `frame` samples the reference."""
        align = similarity(landmarks, self.ref_landmarks)
        h, w = self.reference.shape[:2]
        aligned = cv2.warpAffine(frame, align, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        grey = cv2.cvtColor(self.box.crop(aligned), cv2.COLOR_RGB2GRAY)
        flow = self._dis.calc(grey, self._ref_grey, None)
        flow -= _rigid_part(flow, self._rigid_local)
        return (flow * self.mask[..., None]).astype(np.float32)

    def carry(self, field: np.ndarray, target_landmarks: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, Box]:
        """The field moved onto a target frame of the same face: (H', W', 2) over the returned box of the target."""
        s = similarity(self.ref_landmarks, target_landmarks)  # reference -> target coordinates
        # Field in full-frame reference coordinates, shifted so the box origin maps correctly.
        t = s.copy()
        t[:, 2] += s[:, :2] @ np.array([self.box.x0, self.box.y0], dtype=np.float64)
        corners = np.array([[0, 0], [field.shape[1], 0], [0, field.shape[0]], [field.shape[1], field.shape[0]]], dtype=np.float64)
        moved = corners @ t[:, :2].T + t[:, 2]
        h, w = shape
        box = Box(int(max(0, np.floor(moved[:, 0].min()))), int(max(0, np.floor(moved[:, 1].min()))),
                  int(min(w, np.ceil(moved[:, 0].max()) + 1)), int(min(h, np.ceil(moved[:, 1].max()) + 1)))
        t[:, 2] -= np.array([box.x0, box.y0], dtype=np.float64)
        size = (box.x1 - box.x0, box.y1 - box.y0)
        warped = cv2.warpAffine(field, t, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        # Vectors turn and scale with the face.
        return (warped @ s[:, :2].T.astype(np.float32)).astype(np.float32), box


def _rigid_part(flow: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The similarity motion the flow carries at the rigid points, as a dense field over the box."""
    h, w = flow.shape[:2]
    p = np.clip(points, [0, 0], [w - 1, h - 1]).astype(np.float32)
    sampled = np.stack([cv2.remap(flow[..., c], p[:, 0].reshape(-1, 1), p[:, 1].reshape(-1, 1), cv2.INTER_LINEAR).ravel()
                        for c in range(2)], axis=1)
    m, _ = cv2.estimateAffinePartial2D(p, p + sampled, method=cv2.LMEDS)
    if m is None:
        return np.broadcast_to(sampled.mean(axis=0).astype(np.float32), flow.shape).copy()
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    rx = m[0, 0] * xs + m[0, 1] * ys + m[0, 2] - xs
    ry = m[1, 0] * xs + m[1, 1] * ys + m[1, 2] - ys
    return np.dstack([rx, ry]).astype(np.float32)


def apply(frame: np.ndarray, field: np.ndarray, box: Box, scale: float) -> np.ndarray:
    """The frame with the box resampled along `scale` x the backward field; pixels outside the box untouched."""
    out = frame.copy()
    if scale == 0.0:
        return out
    h, w = field.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    map_x = xs + box.x0 + np.float32(scale) * field[..., 0]
    map_y = ys + box.y0 + np.float32(scale) * field[..., 1]
    out[box.y0 : box.y1, box.x0 : box.x1] = cv2.remap(frame, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out


def projection(field: np.ndarray, apex: np.ndarray) -> float:
    """How much of the apex expression a field holds (least-squares coefficient of the apex field)."""
    den = float((apex * apex).sum())
    return float((field * apex).sum() / den) if den > 0 else 0.0
