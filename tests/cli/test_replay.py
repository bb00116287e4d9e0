"""`microexpr replay` end to end, through the installed console entry point."""

from __future__ import annotations

import json
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
