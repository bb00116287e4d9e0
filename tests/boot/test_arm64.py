"""The pipeline on arm64, as a Raspberry Pi 5 runs it, replays a clip to what x86 gets.

Two Debian Bookworm roots, amd64 and arm64 (the latter through qemu-user-static),
get the image's stage as pi-gen runs it: the Bookworm venv with tflite-runtime 2.14,
models fetched and verified by `microexpr models fetch`. Beside it, LiteRT venvs from
the same wheel with the `litert` extra (the runtime of Trixie images and of PCs): the
version pip picks today (2.3.0), and 1.4.0. Both arches install the same wheel
versions from PyPI (asserted), and each replays the same generated clip (5.5 s at
30 fps with one micro expression after the spotter's 3 s lead-in) with `microexpr replay`.

LiteRT 2.3.0's aarch64 wheel crashes (SIGSEGV in allocate_tensors, with or without
XNNPACK, with qemu's -cpu max, cortex-a72 and cortex-a76) under Bookworm's qemu-user
7.2, where 1.4.0 and tflite-runtime run. That case is an expected failure while it
crashes exactly there, and is compared like the others once it runs. Whether the
emulator or the wheel is at fault, and whether 2.3.0 runs on a Pi 5, needs a Pi 5.

Tolerance: events must be identical (onset, apex, offset, type, emotion, action units).
Per frame the face flag must match, every landmark coordinate may differ by at most
1.0 px and their median by at most 0.15 px, head pose by at most 1 degree. The
differences start at frame 0, before the tracker feeds anything back: the x86 and
NEON float32 kernels sum in a different order, and the landmark model's outputs are
scaled about 1.2-1.5x back to the frame (replays round them to 0.1 px). Measured on
this clip: at most 0.4 px (tflite-runtime) and 0.5 px (LiteRT 1.4), median 0.1 and
0.0 px, pose 0.35 degree; 1 px is 0.5 % of the 220 px face.
"""

from __future__ import annotations

import csv
import json
import shutil
import time
from pathlib import Path

import pytest

from boot import image, rootfs
from edge.synth.render import SynthSpec, generate

# name: (extra, venv, pins, MICROEXPR_TFLITE_RUNTIME). "tflite" is the image's own venv.
RUNTIMES = {
    "tflite": ("pi,tflite", "/opt/microexpr/venv", (), "tflite"),
    "litert": ("pi,litert", "/opt/microexpr/venv-litert", (), "litert"),
    "litert-1.4": ("pi,litert", "/opt/microexpr/venv-litert14", ("ai-edge-litert==1.4.0",), "litert"),
}
# The replays' fixture emulates a Pi for about 10 min, a first run also makes the arm64 root (about 20).
pytestmark = pytest.mark.timeout(3600)
RUNTIME_PACKAGE = {"tflite": "tflite-runtime", "litert": "ai-edge-litert", "litert-1.4": "ai-edge-litert"}
LANDMARK_TOL_PX = 1.0
LANDMARK_MEDIAN_TOL_PX = 0.15
POSE_TOL_DEG = 1.0
CLIP = "/replay/clip.mp4"


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("arm64-clip")
    return generate(SynthSpec(out_dir=str(out), seed=7, fps=30.0, duration_s=5.5, micro=1, macro=0,
                              distractors=False, name="arm64-replay")).video


def prepare(arch: str, pigen: Path, work: Path) -> Path:
    """A root of `arch` with the image's stage and the LiteRT venvs beside its venv."""
    root = rootfs.unpack(rootfs.build_rootfs(arch), work / f"root-{arch}")
    image.install_stage(root, pigen, image.wheelhouse(pigen, arch))
    whl = image.wheel(pigen).name
    for extra, venv, pins, _ in list(RUNTIMES.values())[1:]:
        r = image.in_root(root, f"python3 -m venv --system-site-packages {venv}\n"
                                f"{venv}/bin/pip install --quiet /opt/microexpr/dist/{whl}[{extra}] {' '.join(pins)}\n",
                          binds={image.wheelhouse(pigen, arch, extra, pins): "/wheels"}, env=image.PIP_ENV)
        assert r.returncode == 0, r.stdout + r.stderr
    return root


def versions(root: Path, venv: str) -> dict[str, str]:
    r = image.in_root(root, f"{venv}/bin/pip list --format=json\n", timeout=600)
    assert r.returncode == 0, r.stderr
    return {p["name"].lower(): p["version"] for p in json.loads(r.stdout)}


def replay(root: Path, runtime: str, clip: Path, out: Path) -> tuple[list[dict], list[dict], float, str]:
    """`microexpr replay` in the root; (frames, events, seconds, crash) where crash is '' or its trace."""
    _, venv, _, kind = RUNTIMES[runtime]
    out.mkdir(parents=True)
    t0 = time.monotonic()
    r = image.in_root(root, f"{venv}/bin/microexpr replay {CLIP} --out /out/frames.jsonl --events-out /out/events.csv\n",
                      binds={clip.parent: "/replay"}, rw_binds={out: "/out"}, timeout=3600,
                      env={"MICROEXPR_MODELS_DIR": "/opt/microexpr/models", "MICROEXPR_TFLITE_RUNTIME": kind,
                           "MICROEXPR_DATA_DIR": "/tmp/replay-data", "MICROEXPR_DEVICE_ID": "arm64-test",
                           "PYTHONFAULTHANDLER": "1"})
    seconds = time.monotonic() - t0
    if r.returncode == 139 and "Segmentation fault" in r.stderr:
        return [], [], seconds, r.stderr[-3000:]
    assert r.returncode == 0, f"replay ({runtime}) failed:\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    frames = [json.loads(line) for line in (out / "frames.jsonl").read_text().splitlines()]
    with (out / "events.csv").open() as f:
        events = list(csv.DictReader(f))
    return frames, events, seconds, ""


@pytest.fixture(scope="module")
def replays(boot_host, clip, tmp_path_factory):
    """{(arch, runtime): (frames, events, crash, versions)} for both arches and runtimes."""
    work = tmp_path_factory.mktemp("arm64")
    pigen = image.stage_pigen(work / "pi-gen", "bookworm")
    image.seed_model_cache(pigen)
    shutil.copy(clip, clip.with_name("clip.mp4"))
    results = {}
    for arch in ("amd64", "arm64"):
        root = prepare(arch, pigen, work)
        for runtime, (_, venv, _, _) in RUNTIMES.items():
            frames, events, seconds, crash = replay(root, runtime, clip.with_name("clip.mp4"),
                                                    work / f"out-{arch}-{runtime}")
            results[arch, runtime] = (frames, events, crash, versions(root, venv))
            print(f"{arch} {runtime}: {len(frames)} frames replayed in {seconds:.0f} s{' (crashed)' if crash else ''}")
        shutil.rmtree(root, ignore_errors=True)
    return results


@pytest.mark.parametrize("runtime", list(RUNTIMES))
def test_arm64_replay_matches_x86(replays, runtime):
    x86_frames, x86_events, x86_crash, x86_versions = replays["amd64", runtime]
    arm_frames, arm_events, arm_crash, arm_versions = replays["arm64", runtime]
    assert not x86_crash, x86_crash
    for pkg in ("numpy", "opencv-python-headless", RUNTIME_PACKAGE[runtime]):
        assert arm_versions[pkg] == x86_versions[pkg], pkg
    if arm_crash:
        # Only LiteRT 2.x, only in allocate_tensors: the emulator's known crash, not a new one.
        assert runtime == "litert" and arm_versions["ai-edge-litert"].startswith("2.") \
            and "allocate_tensors" in arm_crash, arm_crash
        pytest.xfail(f"ai-edge-litert {arm_versions['ai-edge-litert']} crashes in allocate_tensors under qemu-user")
    assert len(arm_frames) == len(x86_frames) == 165
    assert all(f["face"] for f in x86_frames), "the reference replay lost the face"
    diffs, worst_pose = [], 0.0
    for a, b in zip(arm_frames, x86_frames):
        assert a["frame"] == b["frame"] and a["face"] == b["face"]
        diffs += [abs(pa[i] - pb[i]) for pa, pb in zip(a["landmarks"], b["landmarks"]) for i in (0, 1)]
        worst_pose = max(worst_pose, *(abs(a["pose"][k] - b["pose"][k]) for k in a["pose"]))
    diffs.sort()
    worst, median = diffs[-1], diffs[len(diffs) // 2]
    print(f"{runtime}: arm64 vs x86 landmarks max {worst:.2f} px, median {median:.2f} px; pose max {worst_pose:.2f} deg")
    assert worst <= LANDMARK_TOL_PX and median <= LANDMARK_MEDIAN_TOL_PX and worst_pose <= POSE_TOL_DEG
    assert x86_events, "the reference replay found no event: the comparison would be empty"
    assert arm_events == x86_events
