"""Head-rotation parallax: what a planar face card lacks when the head turns or nods.

The renderer's head pose is a homography of the flat photo rotated in 3D, which
moves every face point as if it lay on one plane. A real head is not flat: under
a yaw the nose tip swings further than the cheeks and the far side foreshortens,
and that relative motion is what a landmark model reads as a rotation (without
it, it reads the turn as the face deforming, i.e. as an expression). A point at
depth d behind the card plane rotated by R = Rz Rx Ry lands, relative to the card
point it sits on, at Rz (sin(yaw) d, -sin(pitch) cos(yaw) d) (plus second-order
perspective terms), so the missing motion is two fixed per-landmark fields,
depth along x and -depth along y, weighted per frame by sin(yaw) and
sin(pitch) cos(yaw). They go through the same mesh warp as the action units,
before the homography; the mesh's fixed border ring fades them out so hair, neck
and background stay continuous with the planar motion.
"""

from __future__ import annotations

import math

import numpy as np

YAW_KEY = "pose:yaw"  # warp-field keys; not action-unit components
PITCH_KEY = "pose:pitch"
KEYS = (YAW_KEY, PITCH_KEY)

# Face oval (FaceMesh silhouette): the card plane sits at its mean depth, so the
# outline moves with the planar homography and the face inside it moves relative to it.
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152, 148,
             176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)
MIN_SHIFT_PX = 0.05  # below this largest landmark shift the parallax is skipped (saves a full-face remap)


def relative_depth(depth: np.ndarray) -> np.ndarray:
    """(468,) depth behind the card plane (pixels, negative = in front of it, like the nose)."""
    d = np.asarray(depth, dtype=np.float32)
    return d - np.float32(d[list(FACE_OVAL)].mean())


def displacements(depth: np.ndarray) -> dict[str, np.ndarray]:
    """Per-landmark (468, 2) pixel displacements at unit weight for each parallax key."""
    rel = relative_depth(depth)
    zero = np.zeros_like(rel)
    return {YAW_KEY: np.column_stack([rel, zero]), PITCH_KEY: np.column_stack([zero, -rel])}


def weights(yaw_deg: float, pitch_deg: float, reach_px: float) -> dict[str, float]:
    """Field weights for a head pose, in steps of MIN_SHIFT_PX of the largest shift (`reach_px` x weight).

    Negligible keys are left out, and the steps let slow drift reuse the previous frame's warp.
    """
    yaw, pitch = math.radians(yaw_deg), math.radians(pitch_deg)
    q = MIN_SHIFT_PX / reach_px
    w = {YAW_KEY: round(math.sin(yaw) / q) * q, PITCH_KEY: round(math.sin(pitch) * math.cos(yaw) / q) * q}
    return {k: a for k, a in w.items() if a != 0.0}
