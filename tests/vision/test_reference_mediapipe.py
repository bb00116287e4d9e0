"""Our landmarks against MediaPipe's own FaceMesh graph on the same frames of a real clip."""

from __future__ import annotations

import numpy as np
import pytest

from edge.sources.video import VideoFileSource
from edge.vision.pipeline import FacePipeline

pytestmark = pytest.mark.reference

LEFT_EYE_OUTER, RIGHT_EYE_OUTER = 33, 263


def _mediapipe_landmarks(frames):
    import mediapipe as mp

    out = []
    with mp.solutions.face_mesh.FaceMesh(
        static_image_mode=False, max_num_faces=1, refine_landmarks=False,
        min_detection_confidence=0.5, min_tracking_confidence=0.5,
    ) as mesh:
        for f in frames:
            r = mesh.process(f.image)
            if not r.multi_face_landmarks:
                out.append(None)
                continue
            h, w = f.image.shape[:2]
            lm = r.multi_face_landmarks[0].landmark
            out.append(np.array([[p.x * w, p.y * h] for p in lm], dtype=np.float64))
    return out


def test_landmarks_match_mediapipe_facemesh(head_motion_clip):
    with VideoFileSource(head_motion_clip) as src:
        frames = list(src.frames())
    pipe = FacePipeline()
    ours = [pipe.process(f) for f in frames]
    ref = _mediapipe_landmarks(frames)

    ours_found = sum(r.face for r in ours)
    ref_found = sum(r is not None for r in ref)
    assert ref_found > 0.9 * len(frames), "reference should see the face in this clip"
    assert ours_found >= ref_found

    errors = []
    for r, m in zip(ours, ref):
        if r.face and m is not None:
            iod = np.linalg.norm(m[RIGHT_EYE_OUTER] - m[LEFT_EYE_OUTER])
            errors.append(np.linalg.norm(r.landmarks[:, :2] - m, axis=1).mean() / iod)
    mean_err = float(np.mean(errors))
    print(f"mean landmark distance / outer-eye distance: {100 * mean_err:.2f}% over {len(errors)} frames")
    assert mean_err <= 0.04
