"""Named per-frame action-unit estimates from aligned landmarks.

Each estimate is a signed displacement, in inter-ocular-distance (IOD) units,
of the landmark region a FACS action unit moves, taken in the aligned face
frame (x image-right, y down, see align.py), with the sign chosen so that the
action makes it grow. Absolute values mean nothing (they include the face's
shape); the adaptive baseline subtracts the person's neutral. Every estimate is
linear in the aligned coordinates, so all of them are one small matrix product
per frame over the ~90 landmarks involved.

Landmark indices are the canonical 468-point FaceMesh topology; "R" is the
subject's right (image left for an unmirrored camera).
"""

from __future__ import annotations

import numpy as np

# Landmark groups (canonical FaceMesh indices).
R_BROW_INNER = (55, 65, 107, 66)
L_BROW_INNER = (285, 295, 336, 296)
R_BROW_OUTER = (46, 53, 70, 63)
L_BROW_OUTER = (276, 283, 300, 293)
R_UPPER_LID = (159, 158, 160, 157, 161)
L_UPPER_LID = (386, 385, 387, 384, 388)
R_LOWER_LID = (145, 144, 153, 154, 163)
L_LOWER_LID = (374, 373, 380, 381, 390)
R_CHEEK = (117, 118, 50, 101, 123)
L_CHEEK = (346, 347, 280, 330, 352)
NOSE_ALAE = (64, 294, 98, 327, 129, 358)
UPPER_LIP = (0, 37, 39, 40, 267, 269, 270, 82, 312)
LOWER_LIP_OUTER = (17, 84, 314)
CHIN = (152, 175, 199, 200, 18)
R_CORNER = (61, 76, 62)
L_CORNER = (291, 306, 292)
UPPER_LIP_TOP, UPPER_LIP_INNER, LOWER_LIP_INNER, LOWER_LIP_BOTTOM = 0, 13, 14, 17

# Names in output order. AU12/AU14 are split per side: contempt is one-sided.
AU_NAMES: tuple[str, ...] = (
    "AU1", "AU2", "AU4", "AU5", "AU6", "AU7", "AU9", "AU10",
    "R12", "L12", "R14", "L14", "AU15", "AU16", "AU17", "AU20",
    "AU23", "AU25", "AU26", "AU45",
)
AU_INDEX: dict[str, int] = {n: i for i, n in enumerate(AU_NAMES)}

# Displacement (IOD units) of a clear (FACS D/E) action as this estimate sees
# it through the landmark model, which damps small movements: turns
# displacements into 0..1 intensities comparable across AUs.
FULL_SCALE: dict[str, float] = {
    "AU1": 0.02, "AU2": 0.02, "AU4": 0.015, "AU5": 0.008, "AU6": 0.015, "AU7": 0.006,
    "AU9": 0.015, "AU10": 0.02, "R12": 0.03, "L12": 0.03, "R14": 0.015, "L14": 0.015,
    "AU15": 0.035, "AU16": 0.025, "AU17": 0.03, "AU20": 0.04, "AU23": 0.02,
    "AU25": 0.06, "AU26": 0.06, "AU45": 0.03,
}

# How the landmark model drags the other estimates along when the jaw opens
# (per unit of AU26) and when the eyes close (per unit of AU45): slopes measured
# on the tuning footage (astronaut identity, talking and blink distractors; the
# talking slopes vary by less than 0.05 between episodes). A jaw drop moves the
# lower lip and chin by definition and, through the model, the lip corners
# down and the brows up a little; a blink shifts the model's lower face up.
JAW_COUPLING: dict[str, float] = {
    "AU1": 0.14, "AU2": 0.12, "AU4": -0.11, "AU6": -0.07, "AU9": -0.12, "AU10": -0.12,
    "R12": -0.43, "L12": -0.32, "L14": -0.11, "AU15": 0.37, "AU16": 0.47, "AU17": -1.03,
    "AU20": 0.12, "AU23": -0.21, "AU25": 1.14,
}
BLINK_COUPLING: dict[str, float] = {
    "AU1": -0.25, "AU2": 0.12, "AU4": -0.26, "AU5": -0.75, "AU6": 0.44, "AU7": 0.25, "AU9": 0.76,
    "AU10": 0.74, "R12": 0.31, "L12": 0.47, "R14": 0.09, "L14": -0.17, "AU15": -0.39, "AU16": -0.13,
    "AU17": 0.23, "AU23": -0.41, "AU25": 0.15,
}

X, Y, Z = 0, 1, 2
UP = -1.0


def _terms() -> dict[str, list[tuple[tuple[int, ...], int, float]]]:
    """Each AU as a sum of weight x mean(coordinate of a landmark group)."""
    return {
        "AU1": [(R_BROW_INNER + L_BROW_INNER, Y, UP)],
        "AU2": [(R_BROW_OUTER + L_BROW_OUTER, Y, UP)],
        # Brows drawn together (inner brows towards the midline). The lowering
        # that also comes with AU4 is cancelled when AU1 acts too (1+4 in sadness
        # and fear); the drawing together is not, so only it is measured.
        "AU4": [(L_BROW_INNER, X, -1.0), (R_BROW_INNER, X, 1.0)],
        "AU5": [(R_UPPER_LID + L_UPPER_LID, Y, UP)],
        "AU6": [(R_CHEEK + L_CHEEK, Y, UP)],
        "AU7": [(R_LOWER_LID + L_LOWER_LID, Y, UP)],
        "AU9": [(NOSE_ALAE, Y, UP)],
        "AU10": [(UPPER_LIP, Y, UP)],
        # Lip corner pulled up (the outward part is shared with AU20).
        "R12": [(R_CORNER, Y, UP)],
        "L12": [(L_CORNER, Y, UP)],
        # Dimpler: corner tightened, drawn inward.
        "R14": [(R_CORNER, X, 1.0)],
        "L14": [(L_CORNER, X, -1.0)],
        "AU15": [(R_CORNER + L_CORNER, Y, 1.0)],
        # Lower lip pulled down relative to the chin (not a jaw drop).
        "AU16": [(LOWER_LIP_OUTER, Y, 1.0), (CHIN, Y, -1.0)],
        "AU17": [(CHIN + LOWER_LIP_OUTER, Y, UP)],
        "AU20": [(L_CORNER, X, 1.0), (R_CORNER, X, -1.0)],
        # Lips narrowed and thinned: mouth width and red-lip heights shrink.
        "AU23": [
            (L_CORNER, X, -0.5), (R_CORNER, X, 0.5),
            ((UPPER_LIP_TOP,), Y, 1.0), ((UPPER_LIP_INNER,), Y, -1.0),
            ((LOWER_LIP_INNER,), Y, 1.0), ((LOWER_LIP_BOTTOM,), Y, -1.0),
        ],
        "AU25": [((LOWER_LIP_INNER,), Y, 1.0), ((UPPER_LIP_INNER,), Y, -1.0)],
        # Jaw drop: chin and lower lip go down together.
        "AU26": [((152, 175, 17, 14), Y, 1.0)],
        # Eye aperture shrinking: upper lids down, lower lids up.
        "AU45": [(R_UPPER_LID + L_UPPER_LID, Y, 1.0), (R_LOWER_LID + L_LOWER_LID, Y, -1.0)],
    }


class FeatureExtractor:
    """All AU estimates of a frame with one (n_AU, 3k) matrix over the k landmarks used."""

    def __init__(self) -> None:
        terms = _terms()
        used = sorted({i for name in AU_NAMES for group, _, _ in terms[name] for i in group})
        self.landmarks = np.array(used, dtype=np.intp)
        col = {lm: k for k, lm in enumerate(used)}
        w = np.zeros((len(AU_NAMES), len(used) * 3))
        for row, name in enumerate(AU_NAMES):
            for group, axis, weight in terms[name]:
                for i in group:
                    w[row, col[i] * 3 + axis] += weight / len(group)
        self.weights = w
        self.full_scale = np.array([FULL_SCALE[n] for n in AU_NAMES])
        self._jaw = np.array([JAW_COUPLING.get(n, 0.0) for n in AU_NAMES])
        self._blink = np.array([BLINK_COUPLING.get(n, 0.0) for n in AU_NAMES])
        self._i26 = AU_NAMES.index("AU26")
        self._i45 = AU_NAMES.index("AU45")

    def __call__(self, aligned: np.ndarray) -> np.ndarray:
        """(468, 3) aligned points in IOD units -> (n_AU,) estimates."""
        return self.weights @ aligned[self.landmarks].ravel()

    def of_rows(self, aligned_rows: np.ndarray) -> np.ndarray:
        """The same from only the landmarks in `self.landmarks`, in that order (Aligner.align rows=)."""
        return self.weights @ aligned_rows.ravel()

    def decouple(self, displacement: np.ndarray) -> np.ndarray:
        """Baseline-relative estimates with what the jaw opening and eye closure drag along removed."""
        jaw = max(0.0, float(displacement[self._i26]))
        blink = max(0.0, float(displacement[self._i45]))
        return displacement - jaw * self._jaw - blink * self._blink

    def intensities(self, displacement: np.ndarray) -> np.ndarray:
        """Baseline-relative displacements -> 0..1 intensities (negative = not active)."""
        return np.clip(displacement / self.full_scale, 0.0, 1.0)
