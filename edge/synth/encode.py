"""Video encoding for generated footage: the ffmpeg binary when installed, else OpenCV's writer."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from edge.errors import InputError

if TYPE_CHECKING:
    from edge.synth.render import SynthSpec


class VideoSink:
    """A video encoder fed RGB frames."""

    describe = ""

    def write(self, frame: np.ndarray) -> None: ...

    def close(self) -> None: ...


class _FfmpegWriter(VideoSink):
    """The ffmpeg binary at a fixed high quality: OpenCV's own mp4v writer has no quality control and its
    default bitrate pulses every keyframe by about one grey level, enough to hide a subtle micro expression."""

    def __init__(self, path: Path, spec: SynthSpec, binary: str) -> None:
        codec = ["-c:v", "mpeg4", "-q:v", "2", "-tag:v", "mp4v"] if spec.codec == "mp4v" else ["-c:v", "mjpeg", "-q:v", "2"]
        cmd = [binary, "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
               "-s", f"{spec.width}x{spec.height}", "-r", f"{spec.fps:g}", "-i", "-", *codec,
               "-g", str(int(spec.fps)), "-bf", "0", "-pix_fmt", "yuv420p" if spec.codec == "mp4v" else "yuvj420p",
               "-fflags", "+bitexact", "-flags:v", "+bitexact", str(path)]
        self.describe = "ffmpeg " + " ".join(codec)
        self.path = path
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)

    def write(self, frame: np.ndarray) -> None:
        try:
            self.proc.stdin.write(np.ascontiguousarray(frame).tobytes())
        except BrokenPipeError:
            raise InputError(f"{self.path}: ffmpeg stopped: {self.proc.stderr.read().decode(errors='replace').strip()}") from None

    def close(self) -> None:
        if self.proc.stdin and not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
        err = self.proc.stderr.read().decode(errors="replace").strip() if self.proc.stderr else ""
        if self.proc.wait() != 0:
            raise InputError(f"{self.path}: ffmpeg failed: {err.splitlines()[-1] if err else self.proc.returncode}")


class _OpenCvWriter(VideoSink):
    def __init__(self, path: Path, spec: SynthSpec) -> None:
        self.writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*spec.codec), float(spec.fps), (spec.width, spec.height))
        if not self.writer.isOpened():
            raise InputError(f"{path}: cannot open a {spec.codec} video writer")
        if spec.codec == "MJPG":
            self.writer.set(cv2.VIDEOWRITER_PROP_QUALITY, 95)
        self.describe = f"opencv {spec.codec}"

    def write(self, frame: np.ndarray) -> None:
        self.writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))

    def close(self) -> None:
        self.writer.release()


def open_writer(path: Path, spec: SynthSpec) -> VideoSink:
    """ffmpeg when installed (scripts/system-deps.txt), else OpenCV's writer; same codec and container either way."""
    binary = shutil.which("ffmpeg") if spec.encoder in ("auto", "ffmpeg") else None
    if spec.encoder == "ffmpeg" and not binary:
        raise InputError("encoder ffmpeg: no ffmpeg binary on PATH (apt-get install ffmpeg)")
    return _FfmpegWriter(path, spec, binary) if binary else _OpenCvWriter(path, spec)
