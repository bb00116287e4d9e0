"""Image warping from landmark displacements: piecewise affine over a Delaunay mesh, rendered with remap.

The landmarks plus a ring of fixed points on the border of the face region are
triangulated once (cv2.Subdiv2D). Every pixel of the region gets its triangle and
barycentric weights once, so a landmark displacement becomes a dense
displacement field with three gathers -- and since displacements are linear in
AU intensity, one dense field per AU component is cached and a frame is a
weighted sum of a few fields plus one cv2.remap. The field is forward (where a
neutral pixel goes); remap needs the inverse, found by two fixed-point steps
(q = p - D(q)) on a 4x coarser grid (the fields are smooth) and upsampled. Only
the part of the face region the active fields touch is redrawn, so a frame costs
about a millisecond.
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

    def __init__(self, image: np.ndarray, landmarks: np.ndarray, margin: float = 0.3, ring: int = 10, step: int = 4) -> None:
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
        # Inverse maps are solved on a grid `step` times coarser (the fields are smooth) and
        # upsampled; sample (j, i) of the coarse grid sits at the centre of its step x step block.
        self.step = step
        self._cw, self._ch = -(-w // step), -(-h // step)
        half = (step - 1) / 2.0
        self._cgrid = np.dstack(np.meshgrid(np.arange(self._cw, dtype=np.float32) * step + half,
                                            np.arange(self._ch, dtype=np.float32) * step + half))
        self._fields: dict[str, np.ndarray] = {}  # coarse fields
        self._boxes: dict[str, tuple[int, int, int, int]] = {}  # coarse cells where each field is non-zero
        self._grid = np.dstack(np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)))
        self.neutral_roi = np.ascontiguousarray(image[self.region.y0 : self.region.y1, self.region.x0 : self.region.x1])
        # The coarse inverse averages `step` pixels, so it is not quite zero on the region's edge; this ramp
        # (0 on the edge, 1 from `step` pixels in) pins it there, so no seam shows where the redrawn region ends.
        ramp_x = np.minimum(np.arange(w), np.arange(w)[::-1]).astype(np.float32) / step
        ramp_y = np.minimum(np.arange(h), np.arange(h)[::-1]).astype(np.float32) / step
        self._edge = np.clip(np.minimum(ramp_y[:, None], ramp_x[None, :]), 0.0, 1.0)[..., None]

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
        padded = np.zeros((self._ch * self.step, self._cw * self.step, 2), dtype=np.float32)
        padded[: f.shape[0], : f.shape[1]] = f
        coarse = cv2.resize(padded, (self._cw, self._ch), interpolation=cv2.INTER_AREA)
        self._fields[key] = coarse
        ys, xs = np.nonzero(np.abs(coarse).max(axis=2) > 1e-3)
        if len(xs):
            # Grow by the largest displacement: pixels that land inside must be rendered too.
            pad = int(np.ceil(np.abs(f).max() / self.step)) + 1
            self._boxes[key] = (max(0, xs.min() - pad), max(0, ys.min() - pad),
                                min(self._cw, xs.max() + pad + 1), min(self._ch, ys.max() + pad + 1))
        else:
            self._boxes[key] = (0, 0, 0, 0)

    def has_field(self, key: str) -> bool:
        return key in self._fields

    def field(self, weights: dict[str, float]) -> tuple[np.ndarray, tuple[int, int, int, int]] | None:
        """Weighted sum of cached (coarse) fields cut to where any is non-zero, with that box in coarse cells."""
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

    def render(
        self,
        field: tuple[np.ndarray, tuple[int, int, int, int]] | None,
        out: np.ndarray | None = None,
        cavity: np.ndarray | None = None,
    ) -> np.ndarray:
        """The face region warped by a forward field (None = neutral); written into `out` when given.

        `cavity` is the displaced inner-lip polygon (image pixels): where the warp stretches tissue
        open inside it (a dropping jaw, parting lips), the mouth's dark interior shows instead.
        """
        roi = self.neutral_roi
        if field is not None:
            dc, (x0, y0, x1, y1) = field
            s = self.step
            p = self._cgrid[y0:y1, x0:x1]
            # Inverse of p -> p + D(p): q = p - D(q), two fixed-point steps on the coarse grid.
            to_cell = np.array([(s - 1) / 2.0 + x0 * s, (s - 1) / 2.0 + y0 * s], dtype=np.float32)
            q = p - dc
            for _ in range(2):
                c = (q - to_cell) / s
                d = cv2.remap(dc, c[..., 0], c[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
                q = p - d
            back = cv2.resize(q - p, ((x1 - x0) * s, (y1 - y0) * s), interpolation=cv2.INTER_LINEAR)
            w, h = self.region.size
            fx0, fy0 = x0 * s, y0 * s
            fx1, fy1 = min(w, x1 * s), min(h, y1 * s)
            back = back[: fy1 - fy0, : fx1 - fx0]
            if fx0 == 0 or fy0 == 0 or fx1 == w or fy1 == h:
                back = back * self._edge[fy0:fy1, fx0:fx1]
            m = self._grid[fy0:fy1, fx0:fx1] + back
            roi = roi.copy()
            warped = cv2.remap(self.neutral_roi, m[..., 0], m[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
            if cavity is not None:
                self._darken_cavity(warped, q[..., 1], (fx0, fy0), cavity)
            roi[fy0:fy1, fx0:fx1] = warped
        if out is not None:
            r = self.region
            out[r.y0 : r.y1, r.x0 : r.x1] = roi
        return roi


    def _darken_cavity(self, warped: np.ndarray, qy: np.ndarray, origin: tuple[int, int], polygon: np.ndarray) -> None:
        """Blend the mouth interior colour where the inverse map stretches vertically by more than ~1.5x."""
        s = self.step
        stretch = np.gradient(qy, axis=0) / s  # d(source y) / d(output y); 1 = unchanged, small = opened up
        alpha = np.clip((0.7 - stretch) / 0.5, 0.0, 0.92).astype(np.float32)
        if not alpha.any():
            return
        h, w = warped.shape[:2]
        alpha = cv2.resize(alpha, (alpha.shape[1] * s, alpha.shape[0] * s), interpolation=cv2.INTER_LINEAR)[:h, :w]
        mask = np.zeros((h, w), dtype=np.uint8)
        local = polygon - np.array([self.region.x0 + origin[0], self.region.y0 + origin[1]], dtype=np.float32)
        cv2.fillPoly(mask, [np.round(local * 4).astype(np.int32)], 255, lineType=cv2.LINE_AA, shift=2)
        a = (alpha * (mask.astype(np.float32) / 255.0))[..., None]
        warped[:] = (warped.astype(np.float32) * (1 - a) + np.float32(MOUTH_INTERIOR) * a).astype(np.uint8)


MOUTH_INTERIOR = (52, 22, 24)  # RGB of a shadowed mouth interior


def _border_ring(w: int, h: int, n: int) -> np.ndarray:
    """`n` points per side on the region's border; they stay put so the warp fades to nothing there."""
    t = np.linspace(0.0, 1.0, n, endpoint=False)
    xs, ys = (w - 1) * t, (h - 1) * t
    top = np.column_stack([xs, np.zeros(n)])
    right = np.column_stack([np.full(n, w - 1), ys])
    bottom = np.column_stack([(w - 1) - xs, np.full(n, h - 1)])
    left = np.column_stack([np.zeros(n), (h - 1) - ys])
    return np.vstack([top, right, bottom, left]).astype(np.float32)
