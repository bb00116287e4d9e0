"""Head pose (yaw, pitch, roll in degrees) from the 3D FaceMesh landmarks.

A face frame is built from the mesh itself: x along the outer eye corners
(33 -> 263), y from forehead (10) to chin (152) made orthogonal to x, z their
cross product. Angles are relative to a camera-facing head; pitch carries a
constant offset from face anatomy that the spotter's own neutral removes.
Sign convention: roll > 0 when the eye line turns clockwise in the image,
yaw > 0 when the subject's left side moves away from the camera, pitch > 0 chin down.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

FOREHEAD, CHIN, LEFT_EYE_OUTER, RIGHT_EYE_OUTER = 10, 152, 33, 263


@dataclass(frozen=True, slots=True)
class HeadPose:
    yaw: float
    pitch: float
    roll: float

    def as_dict(self) -> dict[str, float]:
        return {"yaw": round(self.yaw, 2), "pitch": round(self.pitch, 2), "roll": round(self.roll, 2)}


def head_pose(lm: np.ndarray) -> HeadPose:
    ex = lm[RIGHT_EYE_OUTER].astype(np.float64) - lm[LEFT_EYE_OUTER]
    ex /= np.linalg.norm(ex) or 1.0
    ey = lm[CHIN].astype(np.float64) - lm[FOREHEAD]
    ey -= ey.dot(ex) * ex
    ey /= np.linalg.norm(ey) or 1.0
    roll = math.degrees(math.atan2(ex[1], ex[0]))
    yaw = math.degrees(math.asin(max(-1.0, min(1.0, ex[2]))))
    pitch = math.degrees(math.atan2(-ey[2], ey[1]))
    return HeadPose(yaw, pitch, roll)
