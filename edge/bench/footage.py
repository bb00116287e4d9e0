"""Footage for the benchmark: decoded once into memory, looped to any length, or generated.

Decoding happens before any timing, so the numbers measure analysis, not the
video decoder. Looped frames get fresh, evenly spaced timestamps so the spotter
sees time move forward across the loop point.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.errors import InputError
from edge.sources.frame import Frame
from edge.sources.video import VideoFileSource

log = logging.getLogger(__name__)

MAX_DECODED_FRAMES = 2400  # 20 s at 120 fps: a bound on memory, longer runs loop the clip
SYNTH_SECONDS = 10.0  # 3 s neutral lead-in, then three micro expressions
SYNTH_MICRO = 3


@dataclass
class Footage:
    """Decoded RGB frames of one clip and the clip's frame period."""

    name: str
    frames: list[Frame]
    period_ns: int

    @property
    def fps(self) -> float:
        return 1e9 / self.period_ns

    @property
    def size(self) -> tuple[int, int]:
        h, w = self.frames[0].image.shape[:2]
        return w, h

    @property
    def megabytes(self) -> float:
        return sum(f.image.nbytes for f in self.frames) / 2**20


def decode(path: str | Path, max_frames: int = MAX_DECODED_FRAMES) -> Footage:
    """Every frame of a video file (up to max_frames) as RGB arrays in memory."""
    frames: list[Frame] = []
    with VideoFileSource(path) as src:
        for frame in src.frames():
            frames.append(frame)
            if len(frames) >= max_frames:
                break
    if len(frames) < 2:
        raise InputError(f"{path}: needs at least 2 frames to benchmark, got {len(frames)}")
    steps = np.diff([f.t_ns for f in frames])
    period = int(np.median(steps)) if np.median(steps) > 0 else int(1e9 / 30)
    return Footage(Path(path).name, frames, period)


def looped(frames: Sequence[Frame], count: int, period_ns: int, start_ns: int = 0) -> Iterator[Frame]:
    """`count` frames cycling through `frames`, evenly timestamped from start_ns."""
    n = len(frames)
    for i in range(count):
        yield Frame(frames[i % n].image, start_ns + i * period_ns, i)


def synth_clip(cache_dir: Path | None = None, fps: float = 120.0) -> Path:
    """The default benchmark clip from `edge.synth` (annotated, seeded); rendered once, then reused."""
    from edge.synth.render import SynthSpec, generate

    out = cache_dir or Path(tempfile.gettempdir()) / "microexpr-bench"
    spec = SynthSpec(out_dir=str(out), seed=1, fps=fps, duration_s=SYNTH_SECONDS, micro=SYNTH_MICRO, macro=0,
                     name=f"bench-s1-{int(fps)}fps-{int(SYNTH_SECONDS)}s")
    video = out / f"{spec.stem}.mp4"
    manifest = out / f"{spec.stem}.manifest.json"
    if video.is_file() and manifest.is_file():
        return video
    log.info("rendering the benchmark clip %s (once; cached in %s)", video.name, out)
    return generate(spec).video
