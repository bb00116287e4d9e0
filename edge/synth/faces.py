"""Identities for the generator: real face photos that ship inside PyPI packages.

Only two real, frontal, large-enough human face photos ship in the packages this
project installs (checked offline in scikit-image 0.26, matplotlib 3.x and
opencv-python-headless 5; ``skimage.data.lfw_subset`` is 25x25 px and
``skimage.data.camera`` is a small three-quarter profile, both unusable):

* ``astronaut``: ``skimage.data.astronaut()`` -- Eileen Collins, NASA, public domain.
* ``hopper``: matplotlib's ``sample_data/grace_hopper.jpg`` -- Grace Hopper, US Navy,
  public domain.

Two more identities are *derived*, not new people: ``astronaut-mirror`` and
``hopper-mirror`` are the same photos flipped left-right. Mirroring swaps any
facial asymmetry and the background side, which is enough to vary a detector's
input, but it is the same face; reports should say so.

Neutral landmarks (the canonical 468-point FaceMesh topology, image pixels) and
their FaceMesh depth (z, pixels, negative towards the camera; it gives rendered head
turns their parallax) are stored next to this module in ``identities.json`` so the
generator needs no vision stack at run time. ``python -m edge.synth.faces``
re-measures them.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from edge.errors import InputError

log = logging.getLogger(__name__)

LANDMARKS_FILE = Path(__file__).with_name("identities.json")

# identity -> (base photo, mirrored?)
IDENTITIES: dict[str, tuple[str, bool]] = {
    "astronaut": ("astronaut", False),
    "hopper": ("hopper", False),
    "astronaut-mirror": ("astronaut", True),
    "hopper-mirror": ("hopper", True),
}

# Outer eye corners: the face unit (distance between them) in every AU definition.
RIGHT_EYE_OUTER = 33  # subject's right, image left
LEFT_EYE_OUTER = 263


@dataclass(frozen=True)
class Identity:
    """A face photo with its neutral landmarks."""

    name: str
    image: np.ndarray  # HxWx3 uint8 RGB
    landmarks: np.ndarray  # (468, 2) float32 image pixels
    source: str  # where the photo comes from, and any transformation
    depth: np.ndarray | None = None  # (468,) float32 FaceMesh z in pixels, negative towards the camera

    @property
    def eye_distance(self) -> float:
        return float(np.linalg.norm(self.landmarks[LEFT_EYE_OUTER] - self.landmarks[RIGHT_EYE_OUTER]))


def _base_photo(base: str) -> tuple[np.ndarray, str]:
    if base == "astronaut":
        try:
            from skimage import data
        except ImportError:
            raise InputError("identity astronaut needs scikit-image (pip install scikit-image)") from None
        return np.ascontiguousarray(data.astronaut()[:, :, :3]), "skimage.data.astronaut() (Eileen Collins, NASA, public domain)"
    if base == "hopper":
        try:
            from matplotlib import cbook
        except ImportError:
            raise InputError("identity hopper needs matplotlib (pip install matplotlib)") from None
        path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise InputError(f"identity hopper: cannot read {path}")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), "matplotlib sample_data/grace_hopper.jpg (Grace Hopper, US Navy, public domain)"
    raise InputError(f"unknown base photo {base!r}")


def photo(name: str) -> tuple[np.ndarray, str]:
    """The RGB photo of an identity (mirrored where the identity says so)."""
    if name not in IDENTITIES:
        raise InputError(f"unknown identity {name!r}; choose one of {', '.join(IDENTITIES)}")
    base, mirrored = IDENTITIES[name]
    img, source = _base_photo(base)
    if mirrored:
        img = np.ascontiguousarray(img[:, ::-1])
        source += ", mirrored left-right (same person, derived identity)"
    return img, source


@lru_cache(maxsize=8)
def load_identity(name: str) -> Identity:
    """An identity with its stored neutral landmarks."""
    img, source = photo(name)
    try:
        stored = json.loads(LANDMARKS_FILE.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InputError(f"{LANDMARKS_FILE}: cannot read identity landmarks ({e}); run python -m edge.synth.faces") from None
    if name not in stored:
        raise InputError(f"{LANDMARKS_FILE}: no landmarks for identity {name!r}; run python -m edge.synth.faces")
    lm = np.asarray(stored[name]["landmarks"], dtype=np.float32)
    if lm.shape != (468, 2):
        raise InputError(f"{LANDMARKS_FILE}: identity {name!r} landmarks have shape {lm.shape}, expected (468, 2)")
    depth = stored[name].get("depth")
    if depth is None:  # an older file: measure once per process (deterministic), rather than render flat turns
        log.warning("%s: no depth for identity %r; measuring it (run python -m edge.synth.faces to store it)", LANDMARKS_FILE, name)
        z = measure_mesh(img)[:, 2]
    else:
        z = np.asarray(depth, dtype=np.float32)
    if z.shape != (468,):
        raise InputError(f"{LANDMARKS_FILE}: identity {name!r} depth has shape {z.shape}, expected (468,)")
    return Identity(name=name, image=img, landmarks=lm, source=source, depth=z.astype(np.float32))


def measure_landmarks(image: np.ndarray) -> np.ndarray:
    """(468, 2) landmarks of the one face in an RGB photo, from the best landmark model available."""
    return measure_mesh(image)[:, :2]


def measure_mesh(image: np.ndarray) -> np.ndarray:
    """(468, 3) landmarks (x, y, z; z at x's pixel scale) of the one face in an RGB photo.

    The product's FacePipeline is used when it exists; MediaPipe's reference graph otherwise.
    """
    try:
        from edge.config import load_config
        from edge.sources.frame import Frame
        from edge.vision.pipeline import FacePipeline

        pipe = FacePipeline.from_config(load_config(environ={}).vision)
        best = None
        for i in range(3):  # let tracking settle on a still image
            res = pipe.process(Frame(image=image, t_ns=i * 10_000_000, index=i))
            if res.face:
                best = res.landmarks[:, :3].astype(np.float32)
        if best is None:
            raise InputError("no face found in the photo")
        return best
    except ImportError:
        import mediapipe as mp

        with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=False, max_num_faces=1) as fm:
            r = fm.process(image)
        if not r.multi_face_landmarks:
            raise InputError("no face found in the photo")
        h, w = image.shape[:2]
        return np.array([[p.x * w, p.y * h, p.z * w] for p in r.multi_face_landmarks[0].landmark], dtype=np.float32)


def refresh_landmarks() -> None:
    """Re-measure and store every identity's neutral landmarks."""
    out = {}
    for name in IDENTITIES:
        img, source = photo(name)
        mesh = measure_mesh(img)
        lm = mesh[:, :2]
        out[name] = {"source": source, "size": [img.shape[1], img.shape[0]], "landmarks": np.round(lm, 2).tolist(),
                     "depth": np.round(mesh[:, 2], 2).tolist()}
        log.info("identity %s: eye distance %.1f px", name, float(np.linalg.norm(lm[LEFT_EYE_OUTER] - lm[RIGHT_EYE_OUTER])))
    LANDMARKS_FILE.write_text(json.dumps(out, separators=(",", ":")) + "\n", encoding="utf-8")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    refresh_landmarks()
