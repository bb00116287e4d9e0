"""FACS action units as landmark displacement fields on the 468-point FaceMesh topology.

Each action unit moves the landmark regions it moves in FACS (Ekman, Friesen &
Hager, *Facial Action Coding System*, 2002). A displacement is given in a
face-relative frame: ``u`` runs from the subject's right outer eye corner
(landmark 33, image left) to the left one (263), ``v`` is perpendicular and points
down the face, and the unit is the distance between the two outer eye corners. So
an intensity-1 AU12 moves a mouth corner by the same fraction of the face on a
100 px face and on a 400 px one, whatever the roll of the head.

Displacements are linear in intensity (1.0 = a clear, FACS "D/E" action) so a
renderer can precompute one dense field per component and sum them per frame.
Each component is a sum of smooth compactly-supported bumps (Wendland kernel)
around anatomical anchors, optionally gated by a soft region mask (above the eyes,
upper lid, lower face...), so regions an AU does not move stay exactly still. A
"sheet" (the largest of several bumps) moves a patch of skin as one -- the cheek
with a smiling mouth corner, the whole chin boss -- because the landmark model
reads that context and follows a lone moving feature less (docs/evaluation.md).

Bilateral AUs have one component per side (``R12``, ``L12``; R/L are the
subject's right and left); ``AU12`` is both. Midline AUs (17, 23, 25, 26) have one
component. AU45 (the blink) closes the upper lid onto the lower one, computed
from each identity's own eye geometry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from edge.errors import InputError

# --- FaceMesh landmark groups (canonical topology; R = subject's right = image left) ---
BROW_INNER = {"R": (107, 66, 55, 65), "L": (336, 296, 285, 295)}
BROW_OUTER = {"R": (70, 63, 46, 53), "L": (300, 293, 276, 283)}
BROW_ALL = {"R": (70, 63, 105, 66, 107, 46, 53, 52, 65, 55), "L": (300, 293, 334, 296, 336, 276, 283, 282, 295, 285)}
# Upper lid landmarks paired with the lower lid landmark below them, outer to inner.
LID_PAIRS = {
    "R": ((246, 7), (161, 163), (160, 144), (159, 145), (158, 153), (157, 154), (173, 155)),
    "L": ((466, 249), (388, 390), (387, 373), (386, 374), (385, 380), (384, 381), (398, 382)),
}
LID_FOLD_UPPER = {"R": (247, 30, 29, 27, 28, 56, 190), "L": (467, 260, 259, 257, 258, 286, 414)}
EYE_CORNERS = {"R": (33, 133), "L": (263, 362)}  # outer, inner
UPPER_LID_CENTER = {"R": (159,), "L": (386,)}
LOWER_LID_CENTER = {"R": (145,), "L": (374,)}
CHEEK = {"R": (50, 117, 118), "L": (280, 346, 347)}
NOSE_ALA = {"R": (98, 64, 129), "L": (327, 294, 358)}
UPPER_LIP_LATERAL = {"R": (40, 39, 80), "L": (270, 269, 310)}
MOUTH_CORNER = {"R": (61, 78), "L": (291, 308)}
UPPER_LIP_OUTER = (185, 40, 39, 37, 0, 267, 269, 270, 409)
UPPER_LIP_INNER = (191, 80, 81, 82, 13, 312, 311, 310, 415)
LOWER_LIP_INNER = (95, 88, 178, 87, 14, 317, 402, 318, 324)
LOWER_LIP_OUTER = (146, 91, 181, 84, 17, 314, 405, 321, 375)
LOWER_LIP_CENTER = (14, 17, 87, 317, 84, 314)
CHIN = (152, 175, 199, 200, 18)
# Skin that moves with the mouth corner: toward the cheek (216), lateral (212), lateral-low (214), below (169).
CORNER_CHEEK = {"R": (216,), "L": (436,)}
CORNER_LATERAL = {"R": (212,), "L": (432,)}
CORNER_LATERAL_LOW = {"R": (214,), "L": (434,)}
CORNER_BELOW = {"R": (169,), "L": (394,)}
NASOLABIAL = {"R": (206,), "L": (426,)}
INNER_MOUTH = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312, 13, 82, 81, 80, 191)

SIDES = ("R", "L")
BILATERAL = ("1", "2", "4", "5", "6", "7", "9", "10", "12", "14", "15", "16", "20", "45")
MIDLINE = ("17", "23", "25", "26")
ALL_AUS = tuple(sorted(BILATERAL + MIDLINE, key=int))


@dataclass(frozen=True)
class FaceFrame:
    """Neutral landmarks expressed in the face-relative frame, plus the frame itself."""

    uv: np.ndarray  # (468, 2) face units
    origin: np.ndarray  # (2,) pixels
    eu: np.ndarray  # (2,) unit vector, pixels per face unit along u, normalised
    ev: np.ndarray
    unit_px: float

    @classmethod
    def from_landmarks(cls, lm: np.ndarray) -> FaceFrame:
        lm = np.asarray(lm, dtype=np.float64)[:, :2]
        r, l = lm[EYE_CORNERS["R"][0]], lm[EYE_CORNERS["L"][0]]
        unit = float(np.linalg.norm(l - r))
        eu = (l - r) / unit
        ev = np.array([-eu[1], eu[0]])
        origin = (l + r) / 2
        rel = lm - origin
        uv = np.stack([rel @ eu, rel @ ev], axis=1) / unit
        return cls(uv=uv, origin=origin, eu=eu, ev=ev, unit_px=unit)

    def to_pixels(self, duv: np.ndarray) -> np.ndarray:
        """Face-unit displacements (N, 2) -> pixel displacements (N, 2)."""
        return (duv[:, :1] * self.eu + duv[:, 1:2] * self.ev) * self.unit_px

    def to_face(self, dpx: np.ndarray) -> np.ndarray:
        """Pixel displacements (N, 2) -> face units (N, 2)."""
        return np.stack([dpx @ self.eu, dpx @ self.ev], axis=1) / self.unit_px


def _wendland(d: np.ndarray) -> np.ndarray:
    """Smooth (C2) bump: 1 at 0, 0 beyond 1."""
    d = np.clip(d, 0.0, 1.0)
    return (1 - d) ** 4 * (4 * d + 1)


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


class _Builder:
    """Builds components on one identity's face frame."""

    def __init__(self, ff: FaceFrame) -> None:
        self.ff = ff
        uv = ff.uv
        self.uv = uv
        eye_v = {s: uv[list(EYE_CORNERS[s])][:, 1].mean() for s in SIDES}
        brow_v = {s: uv[list(BROW_ALL[s])][:, 1].mean() for s in SIDES}
        upper_lid_v = {s: uv[[p[0] for p in LID_PAIRS[s]]][:, 1].min() for s in SIDES}
        # Soft region masks (per landmark, 0..1).
        self.masks: dict[str, np.ndarray] = {}
        for s in SIDES:
            mid = (brow_v[s] + upper_lid_v[s]) / 2
            self.masks[f"above_eye_{s}"] = _smoothstep((mid - uv[:, 1]) / 0.04 + 0.5)
            self.masks[f"below_eye_{s}"] = _smoothstep((uv[:, 1] - eye_v[s]) / 0.03 + 0.5)
            # Between the brow and the eye line: the upper lid and the skin above it, not the brow.
            self.masks[f"upper_eye_{s}"] = _smoothstep((uv[:, 1] - brow_v[s]) / 0.04 - 0.2) * (1 - self.masks[f"below_eye_{s}"])
        # Lower face: below the line through the mouth corners (the lip contact line).
        rc, lc = uv[MOUTH_CORNER["R"][1]], uv[MOUTH_CORNER["L"][1]]
        t = np.clip((uv[:, 0] - rc[0]) / (lc[0] - rc[0]), 0, 1)
        line_v = rc[1] + t * (lc[1] - rc[1])
        contact = (uv[list(UPPER_LIP_INNER)][:, 1].max() + uv[list(LOWER_LIP_INNER)][:, 1].min()) / 2
        line_v = np.minimum(line_v, contact) if contact > line_v.mean() else line_v
        lower = _smoothstep((uv[:, 1] - line_v) / 0.05 + 0.3)
        lower[list(LOWER_LIP_INNER + LOWER_LIP_OUTER)] = 1.0
        lower[list(UPPER_LIP_INNER + UPPER_LIP_OUTER)] = 0.0
        lower[[MOUTH_CORNER[s][i] for s in SIDES for i in (0, 1)]] = 0.5
        self.masks["lower_face"] = lower
        self.masks["upper_face"] = 1.0 - lower
        lip_upper = np.zeros(len(uv))
        lip_upper[list(UPPER_LIP_OUTER)] = 1.0
        lip_lower = np.zeros(len(uv))
        lip_lower[list(LOWER_LIP_OUTER)] = 1.0
        self.masks["upper_lip_outer"] = lip_upper
        self.masks["lower_lip_outer"] = lip_lower
        lower_lip = np.zeros(len(uv))
        lower_lip[list(LOWER_LIP_OUTER + LOWER_LIP_INNER)] = 1.0
        self.masks["lower_lip"] = lower_lip

    def bump(self, anchor: tuple[int, ...], vec: tuple[float, float], radius: float, mask: str | None = None) -> np.ndarray:
        centre = self.uv[list(anchor)].mean(axis=0)
        w = _wendland(np.linalg.norm(self.uv - centre, axis=1) / radius)
        if mask is not None:
            w = w * self.masks[mask]
        return w[:, None] * np.asarray(vec, dtype=np.float64)[None, :]

    def sheet(self, anchors: tuple[tuple[int, ...], ...], vec: tuple[float, float], radius: float, mask: str | None = None) -> np.ndarray:
        """A patch of skin that moves as one: the largest of the bumps around several anchors (not their sum)."""
        w = np.max([np.linalg.norm(self.bump(a, (1.0, 0.0), radius, mask), axis=1) for a in anchors], axis=0)
        return w[:, None] * np.asarray(vec, dtype=np.float64)[None, :]


def _component(b: _Builder, au: str, s: str | None) -> np.ndarray:
    """Displacement (468, 2) in face units of one component at intensity 1."""
    o = 1.0 if s == "L" else -1.0  # outward along u for this side
    n = len(b.uv)
    if au == "1":
        return b.bump(BROW_INNER[s], (0.0, -0.07), 0.5, f"above_eye_{s}")
    if au == "2":
        return b.bump(BROW_OUTER[s], (0.01 * o, -0.075), 0.8, f"above_eye_{s}")  # the lateral forehead rises with it
    if au == "4":
        d = b.bump(BROW_INNER[s], (-0.04 * o, 0.05), 0.5, f"above_eye_{s}")
        return d + b.bump(UPPER_LID_CENTER[s], (-0.01 * o, 0.015), 0.3, f"upper_eye_{s}")
    if au == "5":
        return b.bump(UPPER_LID_CENTER[s], (0.0, -0.04), 0.45, f"upper_eye_{s}")
    if au == "6":
        d = b.bump(CHEEK[s], (0.005 * o, -0.045), 0.65, f"below_eye_{s}")
        return d + b.bump(LOWER_LID_CENTER[s], (0.0, -0.025), 0.4, f"below_eye_{s}")
    if au == "7":
        d = b.bump(LOWER_LID_CENTER[s], (0.0, -0.035), 0.38, f"below_eye_{s}")
        return d + b.bump(UPPER_LID_CENTER[s], (0.0, 0.012), 0.3, f"upper_eye_{s}")
    if au == "9":
        d = b.bump(NOSE_ALA[s], (-0.01 * o, -0.045), 0.35, "upper_face")
        return d + b.bump(BROW_INNER[s], (-0.01 * o, 0.025), 0.35, f"above_eye_{s}")
    if au == "10":
        return b.sheet((UPPER_LIP_LATERAL[s], NASOLABIAL[s]), (0.0, -0.05), 0.45, "upper_face")
    if au == "12":
        return b.sheet((MOUTH_CORNER[s], CORNER_CHEEK[s]), (0.05 * o, -0.05), 0.45)  # the cheek rides up with the corner
    if au == "14":
        return b.sheet((MOUTH_CORNER[s], CORNER_LATERAL[s], CORNER_CHEEK[s]), (-0.04 * o, -0.01), 0.45)
    if au == "15":
        return b.sheet((MOUTH_CORNER[s], CORNER_BELOW[s]), (0.01 * o, 0.055), 0.45)
    if au == "16":
        anchor = (84, 181) if s == "R" else (314, 405)
        return b.bump(anchor, (0.01 * o, 0.04), 0.45, "lower_face")
    if au == "20":
        return b.sheet((MOUTH_CORNER[s], CORNER_LATERAL_LOW[s]), (0.06 * o, 0.012), 0.45)
    if au == "45":
        d = np.zeros((n, 2))
        for up, low in LID_PAIRS[s]:
            d[up] = 0.92 * (b.uv[low] - b.uv[up])
        for i, fold in enumerate(LID_FOLD_UPPER[s]):
            up, low = LID_PAIRS[s][i]
            d[fold] = 0.45 * (b.uv[low] - b.uv[up])
        return d
    if au == "17":
        d = b.sheet((CHIN, (18, 200)), (0.0, -0.05), 0.75, "lower_face")  # the whole chin boss, up to the lip
        return d + b.bump(LOWER_LIP_CENTER, (0.0, -0.02), 0.3, "lower_lip")
    if au == "23":
        d = b.bump((0,), (0.0, 0.03), 0.45, "upper_lip_outer")
        d += b.bump((17,), (0.0, -0.03), 0.45, "lower_lip_outer")
        for side in SIDES:
            oo = 1.0 if side == "L" else -1.0
            d += b.bump(MOUTH_CORNER[side], (-0.03 * oo, 0.0), 0.3)
        return d
    if au == "25":
        d = b.bump(LOWER_LIP_CENTER, (0.0, 0.04), 0.65, "lower_face")
        return d + b.bump((13, 0), (0.0, -0.012), 0.4, "upper_face")
    if au == "26":
        return b.bump((17, 14), (0.0, 0.11), 0.75, "lower_face")
    raise InputError(f"unknown action unit {au!r}")


_COMPONENT_RE = re.compile(r"^(AU)?([RL])?(\d{1,2})$")


def parse_au(token: str) -> list[str]:
    """An AU label (``12``, ``AU12``, ``R12``) -> its component keys (``R12``, ``L12``; ``26``)."""
    m = _COMPONENT_RE.match(token.strip())
    if not m:
        raise InputError(f"bad action unit {token!r}: expected e.g. 12, AU12, R12 or L12")
    side, num = m.group(2), str(int(m.group(3)))
    if num in MIDLINE:
        if side:
            raise InputError(f"action unit {token!r}: AU{num} has no one-sided form")
        return [num]
    if num not in BILATERAL:
        raise InputError(f"action unit {token!r}: not modelled (known: {', '.join(ALL_AUS)})")
    return [side + num] if side else ["R" + num, "L" + num]


def component_keys() -> tuple[str, ...]:
    """Every renderable component, e.g. ('R1', 'L1', ..., '17', ...)."""
    keys: list[str] = []
    for au in ALL_AUS:
        keys += [s + au for s in SIDES] if au in BILATERAL else [au]
    return tuple(keys)


@lru_cache(maxsize=16)
def _fields_cached(key: bytes) -> dict[str, np.ndarray]:
    lm = np.frombuffer(key, dtype=np.float64).reshape(-1, 2)
    return _compute_fields(lm)


def _compute_fields(lm: np.ndarray) -> dict[str, np.ndarray]:
    b = _Builder(FaceFrame.from_landmarks(lm))
    out = {}
    for k in component_keys():
        side, num = (k[0], k[1:]) if k[0] in SIDES else (None, k)
        out[k] = _component(b, num, side)
    return out


def displacement_fields(landmarks: np.ndarray) -> dict[str, np.ndarray]:
    """Component key -> (468, 2) face-unit displacement at intensity 1, for these neutral landmarks."""
    lm = np.ascontiguousarray(np.asarray(landmarks, dtype=np.float64)[:, :2])
    return _fields_cached(lm.tobytes())


def pixel_displacement(landmarks: np.ndarray, intensities: dict[str, float]) -> np.ndarray:
    """(468, 2) pixel displacement of the landmarks for component intensities {key: 0..1}."""
    ff = FaceFrame.from_landmarks(landmarks)
    fields = displacement_fields(landmarks)
    total = np.zeros((len(ff.uv), 2))
    for k, a in intensities.items():
        if a:
            total += a * fields[k]
    return ff.to_pixels(total)


def region_of(key: str, landmarks: np.ndarray, frac: float = 0.5) -> np.ndarray:
    """Indices of the landmarks a component moves by at least `frac` of its largest move."""
    f = displacement_fields(landmarks)[key]
    mag = np.linalg.norm(f, axis=1)
    return np.flatnonzero(mag >= frac * mag.max())
