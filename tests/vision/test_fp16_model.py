"""The landmark model derived for fp16 (edge.vision.fp16): pinned, hinted, and as accurate as the float one.

Its landmark error against the float model is measured on footage: both models on the very
same crops (the float pipeline's tracked regions), error as a share of the inter-ocular
distance (outer eye corners), which must stay under 1 %. Where XNNPACK has no fp16 arithmetic
(x86 without AVX512-FP16, this CI) it ignores the hint and computes in fp32, so here the test
guards the derivation and its wiring and the error it finds is the fp32 one; on the Pi 5
(aarch64, ARMv8.2 FP16) the same test measures the fp16 error itself.
"""

from __future__ import annotations

import platform

import numpy as np
import pytest

from edge.sources.video import VideoFileSource
from edge.vision.fp16 import FP16_KEY, FP16_VALUE, derive, read_metadata, wants_fp16
from edge.vision.landmarks import FaceLandmarker
from edge.vision.models import load_manifest, sha256_of, verify
from edge.vision.pipeline import FacePipeline
from edge.vision.runtime import load_interpreter

LEFT_EYE_OUTER, RIGHT_EYE_OUTER = 33, 263


def test_derived_model_is_the_float_model_plus_the_fp16_hint_and_pinned(tmp_path):
    manifest = load_manifest()
    spec = manifest.derived["face_landmark_fp16"]
    out = derive(spec, verify(manifest, "face_landmark"), tmp_path)  # derived afresh: the same bytes
    assert sha256_of(out) == spec.sha256
    meta = read_metadata(out)
    assert meta[FP16_KEY] == FP16_VALUE.encode() == b"fp16accfp16"
    float_meta = read_metadata(verify(manifest, "face_landmark"))
    assert FP16_KEY not in float_meta and set(meta) == set(float_meta) | {FP16_KEY}


def test_fp16_is_wanted_on_64_bit_arm_by_default_only():
    assert wants_fp16("auto", "aarch64") and not wants_fp16("auto", "x86_64")
    assert wants_fp16("fp16", "x86_64") and not wants_fp16("fp32", "aarch64")
    pipe = FacePipeline(landmark_precision="fp16")
    assert pipe.landmark_model == "face_landmark_fp16" and "face_landmark_fp16:" in pipe.models_version
    assert FacePipeline(landmark_precision="fp32").landmark_model == "face_landmark"


def _errors(clip, every: int = 3, limit: int = 400) -> np.ndarray:
    manifest = load_manifest()
    pipe = FacePipeline(landmark_precision="fp32")
    fp32 = FaceLandmarker(load_interpreter(verify(manifest, "face_landmark"), 1))
    fp16 = FaceLandmarker(load_interpreter(verify(manifest, "face_landmark_fp16"), 1))
    errors = []
    with VideoFileSource(clip, realtime=False) as src:
        for i, frame in enumerate(src.frames()):
            roi = pipe._roi  # where tracking crops this frame from (None: detection runs)
            res = pipe.track(frame)
            if roi is None or not res.face or i % every:
                continue
            a, _ = fp32.run(frame.image, roi)
            b, _ = fp16.run(frame.image, roi)
            iod = float(np.linalg.norm(a[LEFT_EYE_OUTER, :2] - a[RIGHT_EYE_OUTER, :2]))
            errors.append(np.linalg.norm(a[:, :2] - b[:, :2], axis=1).mean() / iod)
            if len(errors) >= limit:
                break
    return np.asarray(errors)


@pytest.mark.parametrize("which", ["synth", "real"])
def test_fp16_landmarks_stay_within_one_percent_of_the_eye_distance(which, synth_expressions_clip, real_footage):
    clip = synth_expressions_clip.video if which == "synth" else real_footage.path("franck")
    err = _errors(clip)
    assert len(err) >= 100
    print(f"{platform.machine()}: fp16 vs fp32 landmark error on {which} footage, share of IOD: "
          f"mean {err.mean():.5f}, p99 {np.percentile(err, 99):.5f}, max {err.max():.5f} ({len(err)} frames)")
    assert float(np.percentile(err, 99)) < 0.01 and float(err.max()) < 0.02
