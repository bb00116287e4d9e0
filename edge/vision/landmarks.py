"""FaceMesh: 468 landmarks of one face, tracked from the previous frame's region.

The region logic follows MediaPipe's face_landmark graphs: from a detection the
square is 1.5x the box, rotated to level the eyes (keypoints 0 and 1); from
landmarks it is 1.5x their bounding box, rotated to level the outer eye corners
(33 and 263). The presence score decides when detection must run again.
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

from edge.vision.detector import Detection
from edge.vision.geometry import Roi, bounds, rotation_from, square_roi

INPUT = 192
N_LANDMARKS = 468
ROI_SCALE = 1.5
LEFT_EYE_OUTER, RIGHT_EYE_OUTER = 33, 263
_SCALE = np.float32(1.0 / 255.0)


def roi_from_detection(det: Detection) -> Roi:
    x0, y0, x1, y1 = det.box
    angle = rotation_from(det.keypoints[0], det.keypoints[1])
    return square_roi((x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0, angle, ROI_SCALE)


def roi_from_landmarks(lm: np.ndarray, box: tuple[float, float, float, float] | None = None) -> Roi:
    """`box`: the landmarks' bounds when the caller has them already."""
    x0, y0, x1, y1 = box or bounds(lm)
    angle = rotation_from(lm[LEFT_EYE_OUTER], lm[RIGHT_EYE_OUTER])
    return square_roi((x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0, angle, ROI_SCALE)


class FaceLandmarker:
    """Runs the landmark model on a rotated crop and projects back to image pixels."""

    def __init__(self, interpreter: Any) -> None:
        self._it = interpreter
        self._in_index = interpreter.get_input_details()[0]["index"]
        outs = interpreter.get_output_details()
        by_size = sorted(outs, key=lambda d: int(np.prod(d["shape"])))
        self._presence_index = by_size[0]["index"]
        self._mesh_index = by_size[-1]["index"]
        self._crop = np.empty((INPUT, INPUT, 3), dtype=np.uint8)

    def run(self, image: np.ndarray, roi: Roi) -> tuple[np.ndarray, float]:
        """Landmarks (468, 3) in image pixels (z in the same scale) and the presence score."""
        m = roi.crop_to_image(INPUT)
        cv2.warpAffine(
            image, m, (INPUT, INPUT), dst=self._crop,
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE,
        )
        tensor = self._it.tensor(self._in_index)
        np.multiply(self._crop, _SCALE, out=tensor()[0], dtype=np.float32)  # float32 math, no float64 pass
        del tensor
        self._it.invoke()
        raw = self._it.get_tensor(self._mesh_index).reshape(N_LANDMARKS, 3)
        logit = float(self._it.get_tensor(self._presence_index).reshape(-1)[0])
        presence = 1.0 / (1.0 + math.exp(-max(-100.0, min(100.0, logit))))
        out = np.empty((N_LANDMARKS, 3), dtype=np.float32)
        out[:, :2] = raw[:, :2] @ m[:, :2].T + m[:, 2]
        out[:, 2] = raw[:, 2] * (roi.size / INPUT)
        return out, presence
