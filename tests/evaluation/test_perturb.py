"""`footage score --perturb`: the real clips transcoded frame for frame, so the same annotations still hold."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from edge.errors import InputError
from edge.evaluation.perturb import PERTURBATIONS, transcode


def score_cmd(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge", "footage", "score", *args], capture_output=True, text=True,
                          timeout=600)


def frames_and_size(path) -> tuple[int, int, int]:
    cap = cv2.VideoCapture(str(path))
    n, shape = 0, None
    while True:
        ok, img = cap.read()
        if not ok:
            break
        n, shape = n + 1, img.shape
    cap.release()
    return n, shape[1], shape[0]


@pytest.mark.parametrize(("name", "scale"), [("reencode", 1.0), ("upscale2", 2.0), ("downscale", 0.75),
                                            ("mirror", 1.0), ("dim", 1.0)])
def test_every_variant_keeps_every_frame_and_scales_the_face(tmp_path, real_footage, name, scale):
    clip = real_footage.path("noface_face")  # a .mov: the variant is an .mp4 with the same frames
    n, w, h = frames_and_size(clip)
    out = transcode(clip, name, tmp_path)
    assert out.suffix == ".mp4" and out.parent == tmp_path
    assert frames_and_size(out) == (n, round(w * scale / 2) * 2, round(h * scale / 2) * 2)


def first_frame(path) -> np.ndarray:
    cap = cv2.VideoCapture(str(path))
    ok, img = cap.read()
    cap.release()
    assert ok, path
    return img.astype(np.float32)


def test_mirror_flips_the_picture_and_dim_darkens_and_flattens_it(tmp_path, real_footage):
    clip = real_footage.path("single_face")
    for sub in "rmd":
        (tmp_path / sub).mkdir()
    orig = first_frame(transcode(clip, "reencode", tmp_path / "r"))
    mirrored = first_frame(transcode(clip, "mirror", tmp_path / "m"))
    assert np.abs(mirrored[:, ::-1] - orig).mean() < 2.0 < np.abs(mirrored - orig).mean()
    dim = first_frame(transcode(clip, "dim", tmp_path / "d"))
    assert dim.mean() < orig.mean() - 20
    assert 0.6 * orig.std() < dim.std() < 0.8 * orig.std()


def test_an_unknown_variant_is_refused(tmp_path, real_footage):
    with pytest.raises(InputError, match="one of " + ", ".join(PERTURBATIONS)):
        transcode(real_footage.path("single_face"), "sharpen", tmp_path)


def test_score_on_a_variant_and_bad_flags_are_one_line_exit_2(tmp_path, single_face_annotated):
    r = score_cmd("single_face", "--annotations", str(single_face_annotated), "--perturb", "upscale2", "--json")
    assert r.returncode == 0, r.stderr
    c = json.loads(r.stdout)["clips"][0]
    assert c["frames"] == 72 and c["episodes"] == 1 and c["hits"] + c["misses"] == 1
    bad = ((("--perturb", "sharpen"), "--perturb sharpen: unknown"),
           (("--perturb", "reencode", "--predictions", str(tmp_path / "p.csv")), "cannot score --predictions"))
    for args, needle in bad:
        r = score_cmd("single_face", "--annotations", str(single_face_annotated), *args)
        lines = [x for x in r.stderr.splitlines() if x.startswith("microexpr")]
        assert r.returncode == 2 and len(lines) == 1 and needle in lines[0], r.stderr


def test_agreement_runs_the_clips_as_fetched_too_and_compares_every_frame(single_face_annotated):
    r = score_cmd("single_face", "--annotations", str(single_face_annotated), "--perturb", "mirror", "--agreement",
                  "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    a = d["agreement"]
    assert (a["reference"], a["view"]) == ("as fetched", "mirror")
    c = a["clips"][0]
    assert c["video"] == "single_face.mp4"
    # The face is found on every frame of both runs; the first frames settle the tracker and are not measured.
    assert 60 <= c["frames"] <= 72 and a["total"]["frames"] == c["frames"]
    assert 0.0 <= c["score_log_ratio"] < 2.0 and -1.0 <= c["score_correlation"] <= 1.0
    assert set(c["flags_differ"]) == {"blink", "talking", "lids_down"}
    assert c["events_b"] == d["clips"][0]["predictions"] and c["events_same"] <= min(c["events_a"], c["events_b"])
    text = score_cmd("single_face", "--annotations", str(single_face_annotated), "--perturb", "mirror", "--agreement")
    assert text.returncode == 0 and "agreement of mirror with the clips as fetched" in text.stdout


def test_agreement_without_a_variant_is_one_line_exit_2(single_face_annotated):
    r = score_cmd("single_face", "--annotations", str(single_face_annotated), "--agreement")
    lines = [x for x in r.stderr.splitlines() if x.startswith("microexpr")]
    assert r.returncode == 2 and len(lines) == 1 and "--agreement" in lines[0] and "--perturb" in lines[0], r.stderr
