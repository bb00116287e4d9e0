"""Landmark streams for the spotting tests: a real neutral face, moved by FACS actions.

The neutral shape comes from MediaPipe's reference FaceMesh on scikit-image's
astronaut photo (once per session). Action units are applied here with this
test suite's own displacement directions, written from the FACS descriptions
(not from the generator's or the feature extractor's definitions): every
landmark within a radius of an anatomical anchor moves along the action's
direction with a smooth falloff. Streams then add a rigid head pose and
Gaussian landmark noise, sampled at a chosen frame rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import pytest

# AU -> list of (anchor landmarks, radius in IOD, (du, dv) at intensity 1, side-mirrored?)
# u runs from the subject's right eye to the left (image right), v down the face.
# "out" directions are given for the subject's LEFT side and mirrored for the right.
FACS: dict[str, list[tuple[tuple[int, ...], float, tuple[float, float]]]] = {
    # Inner corners of the brows pulled up (frontalis, medial part).
    "1": [((336,), 0.12, (0.0, -0.06))],
    # Outer brows pulled up (frontalis, lateral part).
    "2": [((300,), 0.14, (0.0, -0.06))],
    # Brows lowered and drawn together (corrugator, depressor supercilii).
    "4": [((336,), 0.14, (-0.035, 0.03)), ((300,), 0.1, (0.0, 0.012))],
    # Upper lid raised, more of the eyeball shows.
    "5": [((386,), 0.05, (0.0, -0.025))],
    # Cheeks raised, lower lid pushed up (orbicularis oculi, orbital part).
    "6": [((347,), 0.18, (0.0, -0.035)), ((374,), 0.04, (0.0, -0.008))],
    # Lids tightened: lower lid raised and straightened.
    "7": [((374,), 0.05, (0.0, -0.02))],
    # Nose wrinkled: alae and the skin beside the nose pulled up.
    "9": [((294,), 0.1, (0.0, -0.035)), ((1,), 0.08, (0.0, -0.012))],
    # Upper lip raised.
    "10": [((269,), 0.1, (0.0, -0.035))],
    # Lip corner pulled up and out along the zygomatic major.
    "12": [((291,), 0.14, (0.03, -0.04))],
    # Dimpler: lip corner tightened and drawn in.
    "14": [((291,), 0.08, (-0.03, 0.0))],
    # Lip corner pulled down.
    "15": [((291,), 0.12, (0.005, 0.04))],
    # Lower lip pulled down.
    "16": [((17,), 0.12, (0.0, 0.03))],
    # Chin boss pushed up, lower lip with it.
    "17": [((152,), 0.25, (0.0, -0.03)), ((17,), 0.1, (0.0, -0.015))],
    # Lips stretched sideways.
    "20": [((291,), 0.14, (0.05, 0.008))],
    # Lips tightened and narrowed.
    "23": [((291,), 0.06, (-0.02, 0.0)), ((0,), 0.06, (0.0, 0.01)), ((17,), 0.06, (0.0, -0.01))],
    # Lips parted.
    "25": [((14,), 0.1, (0.0, 0.03))],
    # Jaw dropped: the chin and lower lip go down together.
    "26": [((152,), 0.45, (0.0, 0.07)), ((14,), 0.12, (0.0, 0.02))],
}
MIDLINE = {"16", "17", "23", "25", "26"}
# Landmarks of the subject's left half-face and their mirror on the right.
MIRROR = {336: 107, 300: 70, 386: 159, 347: 118, 374: 145, 294: 64, 269: 39, 291: 61}
UPPER_LIDS = {"L": (386, 385, 387, 384, 388, 466, 398), "R": (159, 158, 160, 157, 161, 246, 173)}
LOWER_LIDS = {"L": (374, 380, 373, 381, 390, 249, 382), "R": (145, 153, 144, 154, 163, 7, 155)}

PROTOTYPE_AUS: dict[str, list[str]] = {
    "happiness": ["6", "12"],
    "sadness": ["1", "4", "15"],
    "surprise": ["1", "2", "5", "26"],
    "fear": ["1", "2", "4", "5", "7", "20", "26"],
    "anger": ["4", "5", "7", "23"],
    "disgust": ["9", "10"],
    "contempt": ["R12", "R14"],
}


@pytest.fixture(scope="session")
def neutral_landmarks() -> np.ndarray:
    """(468, 3) neutral FaceMesh landmarks of the astronaut photo, in image pixels."""
    import mediapipe as mp
    from skimage import data

    image = np.ascontiguousarray(data.astronaut()[:, :, :3])
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=False, max_num_faces=1) as fm:
        found = fm.process(image)
    assert found.multi_face_landmarks, "reference FaceMesh found no face on skimage.data.astronaut()"
    h, w = image.shape[:2]
    pts = found.multi_face_landmarks[0].landmark
    return np.array([[p.x * w, p.y * h, p.z * w] for p in pts], dtype=np.float64)


def face_axes(lm: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    r, l = lm[33, :2], lm[263, :2]
    iod = float(np.linalg.norm(l - r))
    eu = (l - r) / iod
    ev = np.array([-eu[1], eu[0]])
    return eu, ev, iod


def au_displacement(lm: np.ndarray, aus: dict[str, float]) -> np.ndarray:
    """(468, 3) pixel displacement of the neutral landmarks for AU intensities {'12': 0.8, 'R14': 0.5}."""
    eu, ev, iod = face_axes(lm)
    out = np.zeros_like(lm)
    for label, a in aus.items():
        side = label[0] if label[0] in "RL" else ""
        num = label.lstrip("RL")
        if num == "45":
            for s in (side,) if side else ("R", "L"):
                for up, low in zip(UPPER_LIDS[s], LOWER_LIDS[s]):
                    out[up, :2] += a * 0.9 * (lm[low, :2] - lm[up, :2])
            continue
        sides = [""] if num in MIDLINE else ([side] if side else ["L", "R"])
        for s in sides:
            for anchors, radius, (du, dv) in FACS[num]:
                idx = [MIRROR.get(i, i) if s == "R" else i for i in anchors]
                centre = lm[idx, :2].mean(axis=0)
                d = np.linalg.norm(lm[:, :2] - centre, axis=1) / (radius * iod)
                w = np.clip(1 - d, 0, None) ** 2
                u = -du if s == "R" else du
                out[:, :2] += a * w[:, None] * (u * eu + dv * ev)[None, :] * iod
    return out


def rigid(lm: np.ndarray, yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0,
          scale: float = 1.0, shift: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Rotate (degrees) about the face centre, scale and shift; z rotates with x, y."""
    c = lm.mean(axis=0)
    y, p, r = (math.radians(v) for v in (yaw, pitch, roll))
    ry = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    rx = np.array([[1, 0, 0], [0, math.cos(p), -math.sin(p)], [0, math.sin(p), math.cos(p)]])
    rz = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    out = scale * (lm - c) @ (rz @ rx @ ry).T + c
    out[:, 0] += shift[0]
    out[:, 1] += shift[1]
    return out


def smooth_bump(t_ms: np.ndarray, onset_ms: float, duration_ms: float, hold_frac: float = 0.0) -> np.ndarray:
    """0 at onset and offset, 1 at the apex: smoothstep rise, optional hold, smoothstep fall."""
    x = (t_ms - onset_ms) / duration_ms
    rise = (1 - hold_frac) / 2
    out = np.zeros_like(x)
    up = (x > 0) & (x < rise)
    s = x[up] / rise
    out[up] = s * s * (3 - 2 * s)
    out[(x >= rise) & (x <= rise + hold_frac)] = 1.0
    down = (x > rise + hold_frac) & (x < 1)
    s = (1 - x[down]) / rise
    out[down] = s * s * (3 - 2 * s)
    return out


@dataclass
class Stream:
    """A landmark stream under construction: per-frame AU intensities and head pose."""

    neutral: np.ndarray
    fps: float
    seconds: float
    noise_px: float = 0.15
    seed: int = 0
    aus: list[tuple[dict[str, float], np.ndarray]] = field(default_factory=list)
    pose: np.ndarray | None = None  # (n, 3) yaw, pitch, roll degrees
    shift_px: np.ndarray | None = None  # (n, 2) the face's travel across the image, pixels
    bends: list[tuple[int, dict[str, float]]] = field(default_factory=list)  # (pose column, AU intensity per degree)
    cnn: np.ndarray | None = None  # (n, 7) emotion CNN softmax per frame; None: the CNN never ran

    @property
    def t_ms(self) -> np.ndarray:
        return np.arange(int(round(self.seconds * self.fps))) * 1000.0 / self.fps

    def expression(self, aus: dict[str, float], onset_ms: float, duration_ms: float, hold_frac: float = 0.0) -> "Stream":
        self.aus.append((aus, smooth_bump(self.t_ms, onset_ms, duration_ms, hold_frac)))
        return self

    def head(self, yaw: np.ndarray | float = 0.0, pitch: np.ndarray | float = 0.0, roll: np.ndarray | float = 0.0) -> "Stream":
        n = len(self.t_ms)
        self.pose = np.stack([np.broadcast_to(np.asarray(v, dtype=float), (n,)) for v in (yaw, pitch, roll)], axis=1)
        return self

    def bend(self, yaw: dict[str, float] | None = None, pitch: dict[str, float] | None = None) -> "Stream":
        """Landmarks that bend with the head's turn (AU intensity per degree), as the landmark model's do:
        a rigid turn alone is what the alignment removes."""
        self.bends += [(0, yaw or {}), (1, pitch or {})]
        return self

    def travel(self, dx: np.ndarray | float = 0.0, dy: np.ndarray | float = 0.0) -> "Stream":
        n = len(self.t_ms)
        self.shift_px = np.stack([np.broadcast_to(np.asarray(v, dtype=float), (n,)) for v in (dx, dy)], axis=1)
        return self

    def emotion_cnn(self, label: int | None = None) -> "Stream":
        """The emotion CNN's output on every frame: neutral, with class `label` (FER2013 order) rising with
        the expressions added so far (None: neutral throughout, whatever the face does)."""
        env = np.zeros(len(self.t_ms))
        for _, e in self.aus:
            env = np.maximum(env, e)
        out = np.zeros((len(env), 7))
        out[:, 6] = 0.9
        out[:, :6] = 0.02
        if label is not None:
            out[:, label] += 0.8 * env
            out[:, 6] -= 0.8 * env
        self.cnn = out
        return self

    def frames(self):
        """(frame, result) pairs as the spotter receives them."""
        rng = np.random.default_rng(self.seed)
        fields = [(au_displacement(self.neutral, aus), env) for aus, env in self.aus]
        if self.bends and self.pose is not None:
            fields += [(au_displacement(self.neutral, aus), self.pose[:, col]) for col, aus in self.bends if aus]
        for i, t in enumerate(self.t_ms):
            lm = self.neutral.copy()
            for disp, env in fields:
                if env[i]:
                    lm = lm + env[i] * disp
            yaw, pitch, roll = self.pose[i] if self.pose is not None else (0.0, 0.0, 0.0)
            if yaw or pitch or roll:
                lm = rigid(lm, yaw, pitch, roll)
            if self.shift_px is not None:
                lm[:, :2] += self.shift_px[i]
            lm = lm + rng.normal(0.0, self.noise_px, lm.shape)
            t_ns = int(round(t * 1e6)) + 1_000_000_000
            frame = SimpleNamespace(t_ns=t_ns, index=i)
            res = SimpleNamespace(face=True, landmarks=lm.astype(np.float32), pose=(float(yaw), float(pitch), float(roll)),
                                  emotion=None if self.cnn is None else self.cnn[i], frame_index=i, t_ns=t_ns)
            yield frame, res


def run_spotter(spotter, stream: Stream) -> list:
    events = []
    for frame, res in stream.frames():
        events += spotter.update(frame, res)
    return events + spotter.flush()


@pytest.fixture
def make_stream(neutral_landmarks):
    def make(fps: float = 120.0, seconds: float = 6.0, **kw) -> Stream:
        return Stream(neutral_landmarks, fps, seconds, **kw)
    return make
