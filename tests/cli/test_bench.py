"""`microexpr bench` runs and reports sane numbers. Speed itself is never asserted here:
benchmarks print numbers, tests only check that the numbers exist and make sense."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from edge.sources.capture import on_virtual_machine

pytestmark = pytest.mark.timeout(300)


def microexpr(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge", *args], capture_output=True, text=True, timeout=280, check=False)


def _stats_ok(s: dict) -> None:
    assert 0 < s["p50"] <= s["p99"] <= s.get("max", s["p99"])


def test_bench_json_has_every_field(head_motion_clip_120):
    r = microexpr("bench", str(head_motion_clip_120), "--json", "--compare", "mediapipe", "--rate", "120",
                  "--seconds", "1", "--loop", "serial", "--scaling-rounds", "0")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["decoded_frames"] == 120 and d["frames"] == 120 and d["faces"] == 120, "1 s at 120 fps, a face in each"
    assert d["fps"] > 0 and d["mediapipe_fps"] > 0
    assert d["ratio"] == pytest.approx(d["fps"] / d["mediapipe_fps"], rel=0.01)
    assert d["mediapipe_faces"] > 100
    for stage in ("landmarks", "pose", "emotion", "spotting"):
        _stats_ok(d["stages_ms"][stage])
    assert d["stages_ms"]["landmarks"]["runs"] >= 120
    # emotion every 4th frame by default (plus detection frames), not every frame
    assert 25 <= d["stages_ms"]["emotion"]["runs"] < 60
    _stats_ok(d["latency_ms"])
    _stats_ok(d["frame_ms"])
    assert d["rate"] == 120 and d["replay_frames_in"] == 120
    assert 0 <= d["dropped"] <= 120 and d["replay_frames"] + d["dropped"] == 120
    assert 0 <= d["replay_late"] <= d["replay_frames"]
    _stats_ok(d["replay_stages_ms"]["landmarks"])  # the replay's own stage times, to tell host stalls apart
    assert d["replay_stages_ms"]["landmarks"]["runs"] == d["replay_frames"]
    assert 0.0 <= d["replay_steal_pct"] <= 100.0
    # source.wait = auto: poll for up to two frame periods on a VM, sleep on bare metal
    assert d["replay_wait"] == ("poll 16.667 ms" if on_virtual_machine() else "sleep")
    hs = d["replay_host_stalls"]  # stalls the thread did not cause, and the replay without them
    assert hs["stalled_ms"] >= hs["longest_ms"] >= 0 and 0 <= hs["frames"] <= d["replay_frames"]
    free = d["latency_without_host_stalls_ms"]
    assert 0 < free["p50"] <= free["p99"] <= d["latency_ms"]["p99"] + 1e-3, "taking stalls out never adds latency"
    assert 0 <= d["replay_late_without_host_stalls"] <= d["replay_late"]
    # 120 decoded 640x480 RGB frames are 105 MiB; the process holds at least those
    assert d["footage_mb"] == pytest.approx(120 * 640 * 480 * 3 / 2**20, rel=0.01)
    assert d["footage_mb"] < d["peak_rss_mb"] < 4096
    assert d["runtime"].startswith(("litert", "tflite"))
    assert set(d["threads"]) == {"face_detection", "face_landmark", "emotion"}
    assert all(n >= 1 for n in d["threads"].values()) and d["os_threads"] >= 2
    assert d["machine"]["cores"] >= 1 and d["machine"]["cpu"]
    assert d["loop"] == "serial" and d["workers"] == 1 and "scaling" not in d
    assert d["cpu_ms_per_frame"] > 0 and d["limiting_stage"].startswith("frame")


def test_bench_pipelined_reports_cores_cpu_per_frame_the_limiting_stage_and_scaling(head_motion_clip_120):
    import os

    cores = len(os.sched_getaffinity(0))
    r = microexpr("bench", str(head_motion_clip_120), "--json", "--rate", "120", "--seconds", "1",
                  "--scaling-rounds", "2")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["loop"] == "pipelined" and d["cores"] == cores and d["workers"] == cores
    assert d["frames"] == 120 and d["replay_frames"] + d["dropped"] == 120
    # CPU per frame over every thread: at least the stage threads' own CPU time, within what 120 frames can take
    assert 0 < d["cpu_ms_per_frame"] < 1000
    if cores > 1:
        assert set(d["stages_cpu_ms"]) == {"track", "spot"} and d["limiting_stage"] in ("track", "spot")
        assert sum(d["stages_cpu_ms"].values()) <= d["cpu_ms_per_frame"] * 1.05 + 0.05
        assert all(d["stages_busy_ms"][k] > 0 for k in ("track", "spot"))
        assert d["replay_wait"] == "sleep"  # auto: the stage threads keep the cores; the caller blocks
        assert "latency_without_host_stalls_ms" not in d
    hs = d["replay_host_stalls"]
    assert hs["stalled_ms"] >= hs["longest_ms"] >= 0 and 0 <= hs["frames"]
    sc = d["scaling"]
    assert sc["cores"] == cores and sc["rounds"] == 2
    assert len(sc["one_core_runs_fps"]) == len(sc["all_cores_runs_fps"]) == 2
    assert sc["one_core_fps"] > 0 and sc["all_cores_fps"] > 0
    assert sc["speedup"] == pytest.approx(sc["all_cores_fps"] / sc["one_core_fps"], rel=0.01)
    assert sc["one_core_cpu_ms_per_frame"] > 0 and sc["all_cores_cpu_ms_per_frame"] > 0


def test_bench_text_loops_a_short_clip(head_motion_clip):
    r = microexpr("bench", str(head_motion_clip), "--seconds", "3")
    assert r.returncode == 0, r.stderr
    assert "60 frames decoded" in r.stdout and "90 frames per pass" in r.stdout, "3 s of a 2 s clip at 30 fps: looped"
    assert "fps (detect, landmarks, pose, emotion, spotting)" in r.stdout
    assert "peak RSS" in r.stdout and "mediapipe" not in r.stdout
    assert "scaling   1 core" in r.stdout and "CPU" in r.stdout and "limiting stage" in r.stdout


@pytest.mark.parametrize("args, message", [
    ((), "give either a FOOTAGE file or --synth"),
    (("missing.mp4",), "missing.mp4: no such file"),
    (("x.mp4", "--synth"), "give either a FOOTAGE file or --synth"),
    (("x.mp4", "--rate", "0"), "--rate: must be between 0 and 1000"),
])
def test_bad_input_is_one_line_and_exit_2(args, message, tmp_path):
    r = microexpr("bench", *args)
    assert r.returncode == 2
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_steal_share_between_two_readings():
    from edge.bench.report import cpu_ticks, steal_pct

    assert steal_pct((100, 10_000), (150, 12_000)) == 2.5  # 50 of 2000 ticks went to the hypervisor
    assert steal_pct((5, 100), (5, 100)) == 0.0  # no time passed: no share, no division by zero
    steal, total = cpu_ticks()
    assert 0 <= steal <= total and total > 0  # this machine has /proc/stat
