"""`microexpr replay` end to end, through the installed console entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from fixtures.footage import write_truncated_avi


def microexpr(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge", *args], capture_output=True, text=True, timeout=300, **kw)


def test_replay_writes_results_and_summary(head_motion_clip, tmp_path):
    out = tmp_path / "r.jsonl"
    r = microexpr("replay", str(head_motion_clip), "--out", str(out), "--no-spotting")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(lines) == 60
    assert all(x["face"] for x in lines)
    assert len(lines[5]["landmarks"]) == 468
    assert "60 frames" in r.stdout and "face found on 100.0%" in r.stdout and "fps on litert" in r.stdout


def _put(path, data: bytes):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    "name, make, expect",
    [
        ("missing", lambda d: d / "nope.mp4", "no such file"),
        ("zero-byte", lambda d: _put(d / "z.mp4", b""), "empty file"),
        ("text", lambda d: _put(d / "t.mp4", b"not video " * 100), "not a readable video"),
        ("truncated", lambda d: write_truncated_avi(d / "cut.avi", frames=40), "truncated"),
    ],
)
def test_bad_input_one_line_exit_2(tmp_path, name, make, expect):
    path = make(tmp_path)
    r = microexpr("replay", str(path), "--no-spotting")
    assert r.returncode == 2, (name, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    lines = [x for x in r.stderr.splitlines() if x.startswith("microexpr replay:")]
    assert len(lines) == 1 and str(path) in lines[0] and expect in lines[0]


def test_camera_that_does_not_exist_one_line_exit_2():
    r = microexpr("camera", "--source", "webcam", "--index", "57")
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    lines = [x for x in r.stderr.splitlines() if x.startswith("microexpr camera:")]
    assert lines == ["microexpr camera: /dev/video57: camera not found (no such device)"]


@pytest.mark.parametrize("name, data", [
    ("notes.mp4", b"not video " * 100),
    # An MP4 header with no movie box: FFmpeg itself complains ("moov atom not found").
    ("cut.mp4", b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + bytes(range(256)) * 8),
    ("table.csv", b"video,onset,apex,offset,type,emotion,aus\nclip.mp4,1,2,3,micro,,\n"),
])
def test_a_file_that_is_not_a_video_prints_only_our_line(tmp_path, name, data):
    path = _put(tmp_path / name, data)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENCV_", "MICROEXPR_"))}
    r = microexpr("replay", str(path), env={**env, "MICROEXPR_DATA_DIR": str(tmp_path / "data")})
    assert r.returncode == 2, r.stderr
    assert r.stderr.splitlines() == [f"microexpr replay: {path}: not a readable video (no decodable stream)"]
