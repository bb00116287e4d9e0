"""Image warping from landmark displacements: piecewise affine over a Delaunay mesh, rendered with remap.

The landmarks plus a ring of fixed points on the border of the face region are
triangulated once (cv2.Subdiv2D). Every pixel of the region gets its triangle and
barycentric weights once, so a landmark displacement becomes a dense
displacement field with three gathers -- and since displacements are linear in
AU intensity, one dense field per AU component is cached and a frame is a
weighted sum of a few fields plus one cv2.remap. The field is forward (where a
neutral pixel goes); remap needs the inverse, found by two fixed-point steps
(q = p - D(q)), exact to second order in the displacement gradient. Only the face
region is touched, so a frame costs a couple of milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Region:
    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def size(self) -> tuple[int, int]:
        return self.x1 - self.x0, self.y1 - self.y0


def face_region(landmarks: np.ndarray, shape: tuple[int, int], margin: float = 0.3) -> Region:
    """The landmarks' bounding box grown by `margin` of its size (more below, for a dropping jaw)."""
    h, w = shape
    lo, hi = landmarks.min(axis=0), landmarks.max(axis=0)
    span = hi - lo
    x0 = int(max(0, np.floor(lo[0] - margin * span[0])))
    x1 = int(min(w, np.ceil(hi[0] + margin * span[0])))
    y0 = int(max(0, np.floor(lo[1] - margin * span[1])))
    y1 = int(min(h, np.ceil(hi[1] + 1.5 * margin * span[1])))
    return Region(x0, y0, x1, y1)


def _triangulate(points: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Delaunay triangles (T, 3) as indices into `points` (region-local pixel coordinates)."""
    w, h = size
    subdiv = cv2.Subdiv2D((-1, -1, w + 2, h + 2))
    for p in points:
        subdiv.insert((float(p[0]), float(p[1])))
    tris = subdiv.getTriangleList().reshape(-1, 3, 2)
    ok = np.all((tris[..., 0] >= -1) & (tris[..., 0] <= w + 1) & (tris[..., 1] >= -1) & (tris[..., 1] <= h + 1), axis=(1,))
    tris = tris[ok]
    # Map vertex coordinates back to point indices (nearest point; exact up to float32 rounding).
    flat = tris.reshape(-1, 2)
    d = np.linalg.norm(flat[:, None, :] - points[None, :, :], axis=2)
    idx = d.argmin(axis=1).reshape(-1, 3)
    keep = (idx[:, 0] != idx[:, 1]) & (idx[:, 1] != idx[:, 2]) & (idx[:, 0] != idx[:, 2])
    return idx[keep]


class MeshWarper:
    """Warps one face region of one fixed neutral image by landmark displacements."""

    def __init__(self, image: np.ndarray, landmarks: np.ndarray, margin: float = 0.3, ring: int = 10) -> None:
        self.image = image
        self.landmarks = np.asarray(landmarks, dtype=np.float32)[:, :2]
        self.region = face_region(self.landmarks, image.shape[:2], margin)
        w, h = self.region.size
        local = self.landmarks - np.array([self.region.x0, self.region.y0], dtype=np.float32)
        border = _border_ring(w, h, ring)
        self.points = np.vstack([local, border]).astype(np.float32)
        self.n_landmarks = len(local)
        self.triangles = _triangulate(self.points, (w, h))
        self._tri_index, self._bary = self._rasterise(w, h)
        self._fields: dict[str, np.ndarray] = {}
        self._boxes: dict[str, tuple[int, int, int, int]] = {}  # where each field is non-zero
        self._grid = np.dstack(np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)))
        self.neutral_roi = np.ascontiguousarray(image[self.region.y0 : self.region.y1, self.region.x0 : self.region.x1])

    def _rasterise(self, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
        ids = np.zeros((h, w), dtype=np.int32)
        for t, tri in enumerate(self.triangles):
            cv2.fillConvexPoly(ids, np.round(self.points[tri]).astype(np.int32), t + 1)
        tri_of = np.maximum(ids - 1, 0).reshape(-1)
        covered = (ids > 0).reshape(-1)
        a = self.points[self.triangles[:, 0]]
        e1 = self.points[self.triangles[:, 1]] - a
        e2 = self.points[self.triangles[:, 2]] - a
        m = np.stack([e1, e2], axis=2).astype(np.float64)  # (T, 2, 2) columns e1, e2
        det = m[:, 0, 0] * m[:, 1, 1] - m[:, 0, 1] * m[:, 1, 0]
        det[np.abs(det) < 1e-9] = 1e-9
        inv = np.stack(
            [np.stack([m[:, 1, 1], -m[:, 0, 1]], 1), np.stack([-m[:, 1, 0], m[:, 0, 0]], 1)], 1
        ) / det[:, None, None]
        ys, xs = np.divmod(np.arange(h * w), w)
        rel = np.stack([xs, ys], 1).astype(np.float64) - a[tri_of]
        w12 = np.einsum("nij,nj->ni", inv[tri_of], rel)
        bary = np.column_stack([1 - w12.sum(1), w12]).astype(np.float32)
        bary[~covered] = 0.0
        return self.triangles[tri_of].astype(np.int32), bary

    def dense(self, displacement: np.ndarray) -> np.ndarray:
        """(468, 2) pixel displacement of the landmarks -> (h, w, 2) float32 forward field."""
        w, h = self.region.size
        full = np.zeros((len(self.points), 2), dtype=np.float32)
        full[: self.n_landmarks] = displacement
        out = np.einsum("nk,nkc->nc", self._bary, full[self._tri_index])
        return out.reshape(h, w, 2).astype(np.float32)

    def cache_field(self, key: str, displacement: np.ndarray) -> None:
        f = self.dense(displacement)
        self._fields[key] = f
        ys, xs = np.nonzero(np.abs(f).max(axis=2) > 1e-3)
        w, h = self.region.size
        if len(xs):
            # Grow by the largest displacement: pixels that land inside must be rendered too.
            pad = int(np.ceil(np.abs(f).max())) + 2
            self._boxes[key] = (max(0, xs.min() - pad), max(0, ys.min() - pad), min(w, xs.max() + pad + 1), min(h, ys.max() + pad + 1))
        else:
            self._boxes[key] = (0, 0, 0, 0)

    def has_field(self, key: str) -> bool:
        return key in self._fields

    def field(self, weights: dict[str, float]) -> tuple[np.ndarray, tuple[int, int, int, int]] | None:
        """Weighted sum of cached fields cut to where any is non-zero, with that box; None when nothing moves."""
        active = [(k, a) for k, a in weights.items() if abs(a) >= 1e-4 and self._boxes[k][2] > 0]
        if not active:
            return None
        x0 = min(self._boxes[k][0] for k, _ in active)
        y0 = min(self._boxes[k][1] for k, _ in active)
        x1 = max(self._boxes[k][2] for k, _ in active)
        y1 = max(self._boxes[k][3] for k, _ in active)
        total = None
        for k, a in active:
            f = self._fields[k][y0:y1, x0:x1]
            total = f * np.float32(a) if total is None else cv2.scaleAdd(f, float(a), total)
        return total, (x0, y0, x1, y1)

    def render(self, field: tuple[np.ndarray, tuple[int, int, int, int]] | None, out: np.ndarray | None = None) -> np.ndarray:
        """The face region warped by a forward field (None = neutral); written into `out` when given."""
        roi = self.neutral_roi
        if field is not None:
            d0, (x0, y0, x1, y1) = field
            roi = roi.copy()
            grid = self._grid[y0:y1, x0:x1]
            # Inverse of p -> p + D(p): q = p - D(q), two fixed-point steps (D sampled in box coordinates).
            q = grid - d0
            off = np.array([x0, y0], dtype=np.float32)
            for _ in range(2):
                qb = q - off
                d = cv2.remap(d0, qb[..., 0], qb[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
                q = grid - d
            roi[y0:y1, x0:x1] = cv2.remap(self.neutral_roi, q[..., 0], q[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        if out is not None:
            r = self.region
            out[r.y0 : r.y1, r.x0 : r.x1] = roi
        return roi


def _border_ring(w: int, h: int, n: int) -> np.ndarray:
    """`n` points per side on the region's border; they stay put so the warp fades to nothing there."""
    t = np.linspace(0.0, 1.0, n, endpoint=False)
    xs, ys = (w - 1) * t, (h - 1) * t
    top = np.column_stack([xs, np.zeros(n)])
    right = np.column_stack([np.full(n, w - 1), ys])
    bottom = np.column_stack([(w - 1) - xs, np.full(n, h - 1)])
    left = np.column_stack([np.zeros(n), (h - 1) - ys])
    return np.vstack([top, right, bottom, left]).astype(np.float32)
