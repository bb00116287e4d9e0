"""The emotion CNN (FER2013 mini-Xception) on an eye-levelled grey face crop."""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

from edge.vision.geometry import Roi, bounds

INPUT = 64
LABELS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
LEFT_EYE_OUTER, RIGHT_EYE_OUTER = 33, 263
CROP_SCALE = 1.1
_SCALE = np.float32(2.0 / 255.0)


def face_crop_roi(lm: np.ndarray) -> Roi:
    """Eye-levelled square around the face: what FER2013's face boxes look like."""
    x0, y0, x1, y1 = bounds(lm)
    d = lm[RIGHT_EYE_OUTER, :2] - lm[LEFT_EYE_OUTER, :2]
    angle = math.atan2(float(d[1]), float(d[0]))
    return Roi((x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0) * CROP_SCALE, angle)


class EmotionClassifier:
    def __init__(self, interpreter: Any) -> None:
        self._it = interpreter
        self._in_index = interpreter.get_input_details()[0]["index"]
        self._out_index = interpreter.get_output_details()[0]["index"]
        self._rgb = np.empty((INPUT, INPUT, 3), dtype=np.uint8)
        self._grey = np.empty((INPUT, INPUT), dtype=np.uint8)

    def aligned_face(self, image: np.ndarray, lm: np.ndarray) -> np.ndarray:
        """64x64 grey face, eyes level (a view of an internal buffer); `image` RGB, or grey (a luma plane)."""
        m = face_crop_roi(lm).crop_to_image(INPUT)
        # Bilinear: warpAffine has no area mode (its INTER_AREA is bilinear). Area-averaging a large face
        # first moved the CNN's outputs that the episode levels were chosen on (docs/spotting.md, session 29).
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        if image.ndim == 2:
            cv2.warpAffine(image, m, (INPUT, INPUT), dst=self._grey, flags=flags, borderMode=cv2.BORDER_REPLICATE)
            return self._grey
        cv2.warpAffine(image, m, (INPUT, INPUT), dst=self._rgb, flags=flags, borderMode=cv2.BORDER_REPLICATE)
        cv2.cvtColor(self._rgb, cv2.COLOR_RGB2GRAY, dst=self._grey)
        return self._grey

    def classify(self, image: np.ndarray, lm: np.ndarray) -> np.ndarray:
        """Softmax over LABELS."""
        grey = self.aligned_face(image, lm)
        tensor = self._it.tensor(self._in_index)
        np.multiply(grey, _SCALE, out=tensor()[0, :, :, 0], dtype=np.float32)
        tensor()[0] -= 1.0
        del tensor
        self._it.invoke()
        return self._it.get_tensor(self._out_index)[0].copy()
