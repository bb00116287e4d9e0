"""Video encoding for generated footage: the ffmpeg binary when installed, else OpenCV's writer."""

from __future__ import annotations

import shutil
import subprocess
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from edge.errors import InputError

H264_BITS_PER_PIXEL = 0.1  # default H.264 rate: ~1 Mbit/s at 640x480x30, ~4 Mbit/s at 768x432x120 (webcam-like)


class EncodeSpec(Protocol):
    """What the encoder needs of a spec (SynthSpec, RealSpec)."""

    codec: str
    encoder: str
    width: int
    height: int
    fps: float
    bitrate_kbps: int


def frame_rate(fps: float) -> str:
    """An exact rational frame rate for ffmpeg: 30 -> 30/1, 23.976... -> 24000/1001 (a real clip keeps its own)."""
    f = Fraction(fps).limit_denominator(1001)
    return f"{f.numerator}/{f.denominator}"


def h264_kbps(spec: EncodeSpec) -> int:
    """The H.264 bitrate: the spec's, or H264_BITS_PER_PIXEL of the pixel rate."""
    if spec.bitrate_kbps > 0:
        return spec.bitrate_kbps
    return max(64, round(H264_BITS_PER_PIXEL * spec.width * spec.height * spec.fps / 1000))


class VideoSink:
    """A video encoder fed RGB frames."""

    describe = ""

    def write(self, frame: np.ndarray) -> None: ...

    def close(self) -> None: ...


class _FfmpegWriter(VideoSink):
    """The ffmpeg binary at a fixed high quality: OpenCV's own mp4v writer has no quality control and its
    default bitrate pulses every keyframe by about one grey level, enough to hide a subtle micro expression."""

    def __init__(self, path: Path, spec: EncodeSpec, binary: str) -> None:
        if spec.codec == "h264":
            # A camera's or a recorder's H.264: constant bitrate with a capped buffer, B-frames, one keyframe a
            # second, a fast preset (as a hardware encoder); blocking, smeared motion and keyframe pulses are
            # what a replayed recording has. One thread keeps it deterministic.
            kbps = h264_kbps(spec)
            codec = ["-c:v", "libx264", "-preset", "veryfast", "-b:v", f"{kbps}k", "-maxrate", f"{kbps}k",
                     "-bufsize", f"{kbps}k", "-x264-params", "threads=1"]
            gop = ["-g", str(max(1, round(spec.fps)))]
        else:
            codec = ["-c:v", "mpeg4", "-q:v", "2", "-tag:v", "mp4v"] if spec.codec == "mp4v" else ["-c:v", "mjpeg", "-q:v", "2"]
            gop = ["-g", str(int(spec.fps)), "-bf", "0"]
        cmd = [binary, "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
               "-s", f"{spec.width}x{spec.height}", "-r", frame_rate(spec.fps), "-i", "-", *codec,
               *gop, "-pix_fmt", "yuvj420p" if spec.codec == "MJPG" else "yuv420p",
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
    def __init__(self, path: Path, spec: EncodeSpec) -> None:
        if spec.codec == "h264":
            raise InputError("codec h264 needs the ffmpeg binary (apt-get install ffmpeg; or --encoder auto)")
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


def open_writer(path: Path, spec: EncodeSpec) -> VideoSink:
    """ffmpeg when installed (scripts/system-deps.txt), else OpenCV's writer; same codec and container either way."""
    binary = shutil.which("ffmpeg") if spec.encoder in ("auto", "ffmpeg") else None
    if spec.encoder == "ffmpeg" and not binary:
        raise InputError("encoder ffmpeg: no ffmpeg binary on PATH (apt-get install ffmpeg)")
    return _FfmpegWriter(path, spec, binary) if binary else _OpenCvWriter(path, spec)
