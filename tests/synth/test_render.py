"""Rendered footage: plays in a standard player, matches its CSV and manifest, is deterministic."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.errors import InputError
from edge.events.annotations import read_annotations
from edge.synth.render import SynthSpec, generate

pytestmark = pytest.mark.slow  # renders and decodes several clips


def ffprobe(path: Path) -> dict:
    out = subprocess.run(
        [shutil.which("ffprobe") or "/usr/bin/ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
         "-show_entries", "stream=codec_name,nb_read_frames,r_frame_rate,width,height", "-of", "json", str(path)],
        capture_output=True, text=True, check=True, timeout=120,
    )
    return json.loads(out.stdout)["streams"][0]


def decode(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    cap.release()
    return frames


def test_mp4_plays_in_a_standard_player(synth_expressions_clip):
    r = synth_expressions_clip
    info = ffprobe(r.video)
    assert r.video.suffix == ".mp4"
    assert info["codec_name"] == "mpeg4"
    assert int(info["nb_read_frames"]) == r.frames == 16 * 60
    assert info["r_frame_rate"] == "60/1"
    assert (info["width"], info["height"]) == (640, 480)


def test_mjpg_avi_at_200_fps_plays(synth_footage):
    r = synth_footage(seed=2, fps=200.0, duration_s=1.5, micro=0, macro=0, codec="MJPG", width=320, height=240, face_size=120)
    info = ffprobe(r.video)
    assert r.video.suffix == ".avi"
    assert info["codec_name"] == "mjpeg"
    assert int(info["nb_read_frames"]) == 300
    assert info["r_frame_rate"] == "200/1"
    assert (info["width"], info["height"]) == (320, 240)


def test_csv_and_manifest_agree_with_the_video(synth_expressions_clip):
    r = synth_expressions_clip
    rows = read_annotations(r.annotations)
    assert rows == r.rows and len(rows) == 5
    assert {x.video for x in rows} == {r.video.name}
    m = json.loads(r.manifest.read_text())
    assert m["spec"]["seed"] == 3 and m["spec"]["fps"] == 60.0 and m["frames"] == r.frames
    assert [(e["onset"], e["apex"], e["offset"], e["type"], e["emotion"]) for e in m["expressions"]] == [
        (x.onset, x.apex, x.offset, x.type, x.emotion) for x in rows]
    assert "astronaut" in m["identity"]["source"]
    assert m["distractors"] == [] and m["talking"] == []

    frames = decode(r.video)
    assert len(frames) == r.frames
    gray = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY).astype(np.float32) for f in frames]
    busy = np.zeros(len(frames), bool)
    for x in rows:
        busy[x.onset : x.offset + 1] = True
        # the face changes between onset and apex
        assert np.abs(gray[x.apex] - gray[x.onset]).mean() > 0.15, x
    # neutral stretches are still (only the encoder's own noise)
    still = [np.abs(gray[i] - gray[0]).mean() for i in np.flatnonzero(~busy)[::15]]
    assert max(still) < 0.6


def test_neutral_footage_with_distractors(synth_neutral_distractors_clip):
    r = synth_neutral_distractors_clip
    assert read_annotations(r.annotations) == []
    m = json.loads(r.manifest.read_text())
    kinds = {d["kind"] for d in m["distractors"]}
    assert {"blink", "talking"} <= kinds and kinds & {"nod", "turn"}
    assert m["talking"] and m["blinks"]
    assert m["effective"] == {"noise_sigma": 2.0, "jpeg_quality": 85}
    frames = decode(r.video)
    assert len(frames) == r.frames == 720
    # the head moves: frame-to-frame differences everywhere, not only noise
    first, mid = frames[0].astype(np.float32), frames[len(frames) // 2].astype(np.float32)
    assert np.abs(first - mid).mean() > 2.0


def test_same_seed_same_video(tmp_path: Path):
    spec = {"seed": 5, "fps": 30.0, "duration_s": 6.0, "micro": 1, "macro": 0, "width": 320, "height": 240, "face_size": 120, "name": "d"}
    a = generate(SynthSpec(out_dir=str(tmp_path / "a"), **spec))
    b = generate(SynthSpec(out_dir=str(tmp_path / "b"), **spec))
    c = generate(SynthSpec(out_dir=str(tmp_path / "c"), **(spec | {"seed": 6})))
    digest = lambda p: hashlib.sha256(b"".join(f.tobytes() for f in decode(p))).hexdigest()
    assert digest(a.video) == digest(b.video)
    assert a.annotations.read_text() == b.annotations.read_text()
    assert a.manifest.read_text() == b.manifest.read_text()
    assert digest(a.video) != digest(c.video)


def test_videos_share_one_annotations_csv(tmp_path: Path):
    common = {"out_dir": str(tmp_path), "fps": 30.0, "duration_s": 6.0, "micro": 1, "macro": 0, "width": 320, "height": 240, "face_size": 120,
                  "distractors": False}
    a = generate(SynthSpec(seed=1, identity="hopper", **common))
    b = generate(SynthSpec(seed=2, identity="astronaut-mirror", **common))
    again = generate(SynthSpec(seed=1, identity="hopper", **common))  # replaces its own rows, keeps the other's
    rows = read_annotations(tmp_path / "annotations.csv")
    assert sorted({r.video for r in rows}) == sorted([a.video.name, b.video.name])
    assert len(rows) == 2 and again.rows == a.rows


@pytest.mark.parametrize(
    "fields, reason",
    [
        ({"fps": 25.0}, "fps must be one of"),
        ({"identity": "cat"}, "unknown identity"),
        ({"codec": "H264"}, "codec must be one of"),
        ({"width": 641}, "size must be even"),
        ({"face_size": 900}, "does not fit"),
        ({"duration_s": 5.0, "micro": 20}, "need at least"),
    ],
)
def test_bad_specs(tmp_path: Path, fields: dict, reason: str):
    with pytest.raises(InputError, match=reason):
        generate(SynthSpec(out_dir=str(tmp_path), **fields))
    assert not list(tmp_path.glob("*.mp4"))
