"""Hardware-in-the-loop: generated annotated footage through the whole device pipeline.

Replay mode (default): each clip file goes through edge.analysis.analyse_video, the
same code path as `microexpr eval` and `microexpr replay`, on whatever TFLite
runtime is installed (LiteRT on a PC, LiteRT or tflite-runtime on the Pi).

Camera mode (`--camera webcam:0` or `--camera picamera2`): the clip plays
full-screen on the display (ffplay) while the unit watches it through its camera;
camera time is mapped to clip frames, with the player's start-up latency found
as the shift (0..2 s) that best aligns predictions with the truth.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.config import load_config
from edge.evaluation.metrics import score
from edge.events.annotations import Annotation
from edge.sources.frame import Frame


def _events_to_rows(video: str, events) -> list[Annotation]:
    return [Annotation(video, e.onset_frame, e.apex_frame, e.offset_frame, e.type, e.emotion, e.aus_label) for e in events]


def _replay(path: Path) -> list[Annotation]:
    from edge.analysis import analyse_video

    run = analyse_video(path, load_config(environ={}))
    assert run.frames > 0 and run.face_rate > 0.95, run.summary()
    return _events_to_rows(path.name, run.events)


def _camera_config(camera: str):
    if camera == "picamera2":
        return load_config(environ={}, overrides={"source.kind": "picamera2"})
    kind, _, index = camera.partition(":")
    if kind != "webcam" or not index.isdigit():
        raise pytest.UsageError(f"--camera: expected webcam:INDEX or picamera2, got {camera!r}")
    return load_config(environ={}, overrides={"source.kind": "webcam", "source.camera_index": int(index)})


def _watch(path: Path, camera: str, fps: float, frames: int, truths: list[Annotation]) -> list[Annotation]:
    """Play the clip on the display and analyse what the camera sees; predictions in clip frames."""
    from edge.analysis import analyse, make_spotter
    from edge.sources import open_source
    from edge.vision.pipeline import FacePipeline

    cfg = _camera_config(camera)
    pipeline = FacePipeline.from_config(cfg.vision)
    spotter = make_spotter(cfg, pipeline)
    player = shutil.which("ffplay")
    assert player, "camera mode plays the footage with ffplay (apt-get install ffmpeg)"
    seen_ns: list[int] = []
    clip_s = frames / fps
    with open_source(cfg.source) as src:
        proc = subprocess.Popen([player, "-fs", "-autoexit", "-loglevel", "error", str(path)])
        started = time.monotonic_ns()

        def frames_until_done() -> Iterator[Frame]:
            for f in src.frames():
                seen_ns.append(time.monotonic_ns())
                yield f
                if time.monotonic_ns() - started > (clip_s + 2.0) * 1e9:
                    return

        try:
            run = analyse(frames_until_done(), pipeline, spotter, source_name=path.name)
        finally:
            proc.wait(timeout=30)
    best: list[Annotation] = []
    best_tp = -1
    for lag_ms in range(0, 2001, 20):
        def clip_frame(i: int, lag_ms: int = lag_ms) -> int:
            return max(0, round(((seen_ns[min(i, len(seen_ns) - 1)] - started) / 1e9 - lag_ms / 1000) * fps))

        rows = [Annotation(path.name, clip_frame(e.onset_frame), clip_frame(e.apex_frame), clip_frame(e.offset_frame),
                           e.type, e.emotion, e.aus_label) for e in run.events]
        tp = score(truths, rows).overall.tp
        if tp > best_tp:
            best, best_tp = rows, tp
    return best


@pytest.fixture(scope="session")
def observe(hil_camera: str):
    """observe(SynthResult) -> predictions in the clip's frame indices, by replay or through the camera."""

    def run(result) -> list[Annotation]:
        if not hil_camera:
            return _replay(result.video)
        fps = float(json.loads(result.manifest.read_text())["fps"])
        return _watch(result.video, hil_camera, fps, result.frames, result.rows)

    return run


@pytest.fixture(scope="session")
def interview_clip(synth_footage):
    """20 s at 60 fps with every distractor (blinks, drift, nods/turns, talking, flicker, noise, JPEG)."""
    return synth_footage(seed=21, fps=60.0, duration_s=20.0, micro=5, macro=1, distractors=True, name="interview")
