"""Similarity alignment of each frame's landmarks to the subject's own neutral shape.

Facial actions are small (a few percent of the eye distance) next to what head
rotation, scale and translation do to raw pixel coordinates, so every frame is
mapped onto one reference shape with the least-squares similarity transform
(Umeyama 1991) fitted on points that facial muscles barely move: the eye corners
and the nose bridge. What remains after alignment is expression, landmark noise,
and the part of an out-of-plane rotation a similarity cannot explain; the
latter shows up as fit residual, which the spotter uses to discount head motion.

The aligned shape is expressed in a face frame built from the reference: origin
between the outer eye corners, x along the eye line (image right), y down the
face, z into the scene, unit length = the inter-ocular distance (outer corners
33 and 263). Features are then plain coordinates in IOD units.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Eye corners (outer and inner, both eyes) and nose bridge: rigid under expression.
STABLE_POINTS: np.ndarray = np.array([33, 133, 362, 263, 6, 168, 8, 234, 454, 127, 356], dtype=np.intp)
RIGHT_EYE_OUTER = 33  # subject's right, image left
LEFT_EYE_OUTER = 263
MOUTH_CORNERS = (61, 291)


@dataclass(frozen=True, slots=True)
class Similarity:
    """x -> scale * R @ x + t, applied to row vectors."""

    scale: float
    rotation: np.ndarray  # (d, d), det +1
    translation: np.ndarray  # (d,)

    def apply(self, points: np.ndarray) -> np.ndarray:
        return self.scale * points @ self.rotation.T + self.translation


def umeyama(src: np.ndarray, dst: np.ndarray) -> Similarity:
    """Least-squares similarity mapping src onto dst (both (n, d), n >= d)."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    mu_s = src.mean(axis=0)
    mu_d = dst.mean(axis=0)
    s0 = src - mu_s
    d0 = dst - mu_d
    var_s = float((s0 * s0).sum()) / len(src)
    cov = d0.T @ s0 / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.ones(len(sig))
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1] = -1.0
    rot = (u * sign) @ vt
    scale = float((sig * sign).sum() / var_s) if var_s > 0 else 1.0
    return Similarity(scale, rot, mu_d - scale * rot @ mu_s)


def face_frame(reference: np.ndarray) -> np.ndarray:
    """Map a (468, 3) neutral shape into the face frame (IOD units, x right, y down)."""
    ref = np.asarray(reference, dtype=np.float64)
    r, l = ref[RIGHT_EYE_OUTER], ref[LEFT_EYE_OUTER]
    iod = float(np.linalg.norm(l - r))
    if iod <= 0:
        raise ValueError("reference shape has coincident outer eye corners")
    ex = (l - r) / iod
    mouth = ref[list(MOUTH_CORNERS)].mean(axis=0)
    down = mouth - (l + r) / 2
    ey = down - (down @ ex) * ex
    ey /= np.linalg.norm(ey)
    ez = np.cross(ex, ey)
    basis = np.stack([ex, ey, ez])
    return ((ref - (l + r) / 2) @ basis.T) / iod


@dataclass(frozen=True, slots=True)
class AlignedFace:
    points: np.ndarray  # (468, 3) in the reference's face frame, IOD units
    residual: float  # RMS distance of the stable points after the fit, IOD units
    rotation: np.ndarray  # (3, 3) head rotation relative to the reference
    scale: float  # image pixels per IOD unit in this frame


class Aligner:
    """Aligns frames to one subject's neutral shape on the stable points."""

    def __init__(self, reference: np.ndarray, stable: np.ndarray = STABLE_POINTS) -> None:
        ref = np.asarray(reference, dtype=np.float64)
        if ref.ndim != 2 or ref.shape[1] not in (2, 3) or ref.shape[0] <= int(np.max(stable)):
            raise ValueError(f"reference landmarks must be (468, 2|3), got {ref.shape}")
        if ref.shape[1] == 2:
            ref = np.concatenate([ref, np.zeros((len(ref), 1))], axis=1)
        self.stable = np.asarray(stable, dtype=np.intp)
        self.reference = face_frame(ref)
        self._ref_stable = self.reference[self.stable]
        self._ref_mu = self._ref_stable.mean(axis=0)
        self._ref_c = self._ref_stable - self._ref_mu
        self._ref_var = float((self._ref_c * self._ref_c).sum()) / len(self.stable)

    def align(self, landmarks: np.ndarray, rows: np.ndarray | None = None) -> AlignedFace:
        """Remove rotation, scale and translation from one frame's landmarks.

        With `rows`, only those landmarks are transformed (and returned, in that
        order): the spotter needs about a fifth of them.
        """
        lm = np.asarray(landmarks, dtype=np.float64)
        if lm.shape[1] == 2:
            lm = np.concatenate([lm, np.zeros((len(lm), 1))], axis=1)
        src = lm[self.stable]
        mu_s = src.mean(axis=0)
        s0 = src - mu_s
        n = len(src)
        # Umeyama inline (frame -> reference), sharing the precomputed reference terms.
        cov = self._ref_c.T @ s0 / n
        u, sig, vt = np.linalg.svd(cov)
        d = 1.0 if _det3(u @ vt) > 0 else -1.0
        sig_sum = sig[0] + sig[1] + d * sig[2]
        if d < 0:
            u = u.copy()
            u[:, 2] *= -1.0
        rot = u @ vt
        var_s = float((s0 * s0).sum()) / n
        scale = sig_sum / var_s if var_s > 0 else 1.0
        err = scale * s0 @ rot.T + (self._ref_mu - self._ref_stable)
        pts = scale * ((lm if rows is None else lm[rows]) - mu_s) @ rot.T + self._ref_mu
        residual = float(np.sqrt((err * err).sum() / n))
        # rot maps the frame to the reference; its transpose is the head's rotation.
        return AlignedFace(pts, residual, rot.T, 1.0 / scale if scale > 0 else 0.0)


def _det3(m: np.ndarray) -> float:
    """Determinant of a 3x3 matrix (np.linalg.det costs more than the arithmetic)."""
    return float(m[0, 0] * (m[1, 1] * m[2, 2] - m[1, 2] * m[2, 1])
                 - m[0, 1] * (m[1, 0] * m[2, 2] - m[1, 2] * m[2, 0])
                 + m[0, 2] * (m[1, 0] * m[2, 1] - m[1, 1] * m[2, 0]))


def rotation_angle_deg(r_a: np.ndarray, r_b: np.ndarray) -> float:
    """Angle of the rotation taking r_a to r_b, in degrees."""
    c = (np.trace(r_b @ r_a.T) - 1.0) / 2.0
    return float(np.degrees(np.arccos(min(1.0, max(-1.0, c)))))


def rotation_angles(rotation: np.ndarray) -> np.ndarray:
    """(yaw, pitch) in radians of a small rotation matrix (the alignment's, frame -> reference)."""
    return np.array([(rotation[0, 2] - rotation[2, 0]) * 0.5, (rotation[2, 1] - rotation[1, 2]) * 0.5])
