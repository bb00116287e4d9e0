"""Expression flow of a real face: measured from a neutral frame to each episode frame, moved onto another frame.

Why this shape: the texture must stay real skin and the motion real muscle, so
nothing is rendered -- a neutral frame of the same person is resampled along the
dense optical flow (DIS) that the real expression produced. Head motion is
kept out of that flow twice: the episode frame is first aligned to the neutral
reference by a similarity fitted to rigid landmarks (eye corners, nose, brow
line, temples; they do not move with an expression), then whatever rigid
motion the flow still carries is fitted on those same points and subtracted.
That second fit uses FaceMesh's depth: a turn or a nod moves the nose against
the cheeks (parallax), which no similarity can follow, and a weak-perspective
camera sees any rigid motion as an affine function of position *and depth*.
What is left is the expression alone, masked to the face. With the similarity
alone, a long episode made brief carried its head turns into 40-500 ms
(franck's smile at 2312-2889 turns 7-8 degrees; FaceMesh saw 7-8 degrees in
the warped frames too): jerks of up to 173 deg/s that no micro expression has.
To insert the expression into another neutral frame of the clip, the field is
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
DEPTH_SPREAD_IOD = 0.08  # FaceMesh's depth, known at the landmarks, is spread over this radius (a smooth map)


def iod(landmarks: np.ndarray) -> float:
    """Inter-ocular distance (outer eye corners) in the image plane, the face unit."""
    return float(np.linalg.norm(landmarks[LEFT_EYE_OUTER, :2] - landmarks[RIGHT_EYE_OUTER, :2]))


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2x3 similarity taking the rigid landmarks of `src` onto those of `dst` (least squares, robust to one outlier)."""
    a = np.asarray(src, dtype=np.float32)[list(RIGID), :2]
    b = np.asarray(dst, dtype=np.float32)[list(RIGID), :2]
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
    lo, hi = landmarks[:, :2].min(axis=0), landmarks[:, :2].max(axis=0)
    pad = margin * (hi - lo)
    return Box(int(max(0, lo[0] - pad[0])), int(max(0, lo[1] - pad[1])),
               int(min(w, hi[0] + pad[0] + 1)), int(min(h, hi[1] + pad[1] + 1)))


def face_mask(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) float32 in 0..1: the landmarks' hull, grown a little and feathered, so the flow fades out at the face edge."""
    h, w = shape
    mask = np.zeros((h, w), dtype=np.uint8)
    hull = cv2.convexHull(np.round(landmarks[:, :2]).astype(np.int32))
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
        lm = np.asarray(ref_landmarks, dtype=np.float32)
        self.ref_landmarks = lm[:, :2]
        shape = reference.shape[:2]
        self.box = face_box(self.ref_landmarks, shape)
        self.mask = self.box.crop(face_mask(self.ref_landmarks, shape))
        self._ref_grey = cv2.cvtColor(self.box.crop(reference), cv2.COLOR_RGB2GRAY)
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        self._dis.setUseSpatialPropagation(True)
        off = np.array([self.box.x0, self.box.y0], dtype=np.float32)
        self._rigid_local = self.ref_landmarks[list(RIGID)] - off
        # With FaceMesh's depth, a turn's parallax comes out too (_turn_part); 2-D landmarks: the similarity only.
        self._depth = depth_map(lm, self.box, self.mask.shape) if lm.shape[1] == 3 else None

    def field(self, frame: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """(h, w, 2) float32 backward field over the box: where the expression at `frame` samples the reference."""
        align = similarity(landmarks, self.ref_landmarks)
        h, w = self.reference.shape[:2]
        aligned = cv2.warpAffine(frame, align, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        grey = cv2.cvtColor(self.box.crop(aligned), cv2.COLOR_RGB2GRAY)
        flow = self._dis.calc(grey, self._ref_grey, None)
        if self._depth is not None:
            flow -= _turn_part(flow, self._rigid_local, self._depth)
        else:
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


def depth_map(landmarks: np.ndarray, box: Box, shape: tuple[int, int]) -> np.ndarray:
    """(h, w) float32 over the box: FaceMesh's depth at the landmarks, spread smoothly between them
    (normalised convolution); 0 where no landmark is near."""
    h, w = shape
    p = landmarks[:, :2] - (box.x0, box.y0)
    x, y = np.round(p[:, 0]).astype(np.intp), np.round(p[:, 1]).astype(np.intp)
    ok = (x >= 0) & (x < w) & (y >= 0) & (y < h)
    acc = np.zeros((h, w, 2), dtype=np.float32)
    np.add.at(acc, (y[ok], x[ok]), np.column_stack([landmarks[ok, 2], np.ones(int(ok.sum()))]).astype(np.float32))
    acc = cv2.GaussianBlur(acc, (0, 0), sigmaX=max(1.0, DEPTH_SPREAD_IOD * iod(landmarks)))
    return np.where(acc[..., 1] > 1e-6, acc[..., 0] / np.maximum(acc[..., 1], 1e-6), 0.0).astype(np.float32)


def _inside(points: np.ndarray, field: np.ndarray) -> np.ndarray:
    """The points' (x, y), clipped to the field's box, as float32."""
    h, w = field.shape[:2]
    return np.clip(points[:, :2], [0, 0], [w - 1, h - 1]).astype(np.float32)


def _sampled(field: np.ndarray, p: np.ndarray) -> np.ndarray:
    """(n, channels): the field bilinearly sampled at the points p (float32 (n, 2), inside the box)."""
    px, py = p[:, 0].reshape(-1, 1), p[:, 1].reshape(-1, 1)
    return np.stack([cv2.remap(field[..., c], px, py, cv2.INTER_LINEAR).ravel() for c in range(field.shape[2])], axis=1)


def _turn_part(flow: np.ndarray, points: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """The rigid head motion the flow carries at the rigid points, turns and nods included, as a dense field.

    Under a (weak-perspective) camera a rigid motion moves every face point by
    an affine function of its position and depth: d = M (x, y, z) + t. Fitted on
    the flow at the rigid points (least squares, 8 numbers from 19 points) and
    evaluated over the box with the depth map, it is what the head, not the
    expression, did; a similarity (_rigid_part) is the same without the depth
    term, so it leaves the parallax of a turn in."""
    h, w = flow.shape[:2]
    p = _inside(points, flow)
    v = _sampled(flow, p)
    z = _sampled(depth[..., None], p)[:, 0]
    a = np.column_stack([p[:, 0], p[:, 1], z, np.ones(len(p))]).astype(np.float64)
    m, *_ = np.linalg.lstsq(a, v.astype(np.float64), rcond=None)  # (4, 2): x, y, z, 1 -> dx, dy
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.dstack([np.float32(m[0, c]) * xs + np.float32(m[1, c]) * ys + np.float32(m[2, c]) * depth
                      + np.float32(m[3, c]) for c in range(2)]).astype(np.float32)


def _rigid_part(flow: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The similarity motion the flow carries at the rigid points, as a dense field over the box."""
    h, w = flow.shape[:2]
    p = _inside(points, flow)
    sampled = _sampled(flow, p)
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
