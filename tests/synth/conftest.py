"""Helpers shared by the generator's tests."""

from __future__ import annotations

import numpy as np


def settled_landmarks(pipe, image: np.ndarray, frames: int = 8) -> np.ndarray:
    """FaceMesh's landmarks of one still image, (468, 3), after the tracked region has settled on the face
    (the image fed `frames` times, as a camera would hold it)."""
    from edge.sources.frame import Frame

    pipe.reset()
    res = None
    for i in range(frames):
        res = pipe.process(Frame(image=image, t_ns=i * 10_000_000, index=i))
    assert res is not None and res.face
    return res.landmarks[:, :3].astype(np.float64)
