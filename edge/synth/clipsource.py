"""A real clip as the generator's source: its annotated episodes, its ranges, its face track, its neutral stretches.

The annotators' files (``footage/annotations/STEM.csv`` with an optional ``note``
column, ``STEM.ranges.csv`` with ``video,kind,start,end,note``) are read with
edge.events.annotations and checked against the clip: an episode or a range
outside it would put ground truth where there is no footage, so it is an
InputError naming the file and the row.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from edge.errors import InputError
from edge.events.annotations import Annotation, Range, read_annotations, read_ranges

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stretch:
    """Frames start..end inclusive with a face, no annotated episode and no range."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1


@dataclass
class ClipTrack:
    """A clip's frame count, rate, size and per-frame FaceMesh landmarks, (468, 3) pixels with FaceMesh's depth
    (None where no face): the depth lets the expression flow take a head turn's parallax out (flowwarp.py)."""

    path: Path
    fps: float
    width: int
    height: int
    landmarks: list[np.ndarray | None]

    @property
    def n_frames(self) -> int:
        return len(self.landmarks)


def read_episodes(path: Path, video: str) -> list[Annotation]:
    """The annotated episodes of one video, in onset order (the annotators' `note` column is allowed)."""
    return sorted((r for r in read_annotations(path) if r.video == video), key=lambda r: (r.onset, r.offset))


def read_clip_ranges(path: Path, video: str) -> list[Range]:
    """The talking/hidden/turned/no_face ranges of one video."""
    return [r for r in read_ranges(path) if r.video == video]


def check_inside(path: Path, episodes: list[Annotation], ranges: list[Range], n_frames: int) -> None:
    """Every episode and range must lie inside the clip's frames."""
    for a in episodes:
        if a.offset >= n_frames:
            raise InputError(f"{path}: {a.video} episode {a.onset}..{a.offset} lies outside the clip "
                             f"({n_frames} frames, 0..{n_frames - 1})")
    for r in ranges:
        if r.end >= n_frames:
            raise InputError(f"{path}: {r.kind} range {r.start}..{r.end} lies outside the clip ({n_frames} frames)")


def track_clip(path: Path) -> ClipTrack:
    """Decode the clip once and track its face with the product's FacePipeline (landmarks per frame),
    configured as the unit is (models directory and threads from the configuration)."""
    from edge.config import load_config
    from edge.sources.frame import Frame
    from edge.vision.pipeline import FacePipeline

    if not path.is_file():
        raise InputError(f"{path}: clip not found (fetch the real clips with `microexpr footage fetch`)")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise InputError(f"{path}: cannot open the clip as video")
    fps = float(cap.get(cv2.CAP_PROP_FPS)) or 0.0
    if not 1.0 <= fps <= 1000.0:
        cap.release()
        raise InputError(f"{path}: no usable frame rate ({fps:g})")
    pipe = FacePipeline.from_config(replace(load_config().vision, side_thread=False))
    landmarks: list[np.ndarray | None] = []
    size = (0, 0)
    try:
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            size = (bgr.shape[1], bgr.shape[0])
            i = len(landmarks)
            res = pipe.process(Frame(image=cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), t_ns=round(i * 1e9 / fps), index=i))
            landmarks.append(res.landmarks[:, :3].astype(np.float32).copy() if res.face else None)
    finally:
        cap.release()
        pipe.close()
    if not landmarks:
        raise InputError(f"{path}: no frames could be decoded")
    log.info("%s: %d frames at %.3f fps, face on %d", path, len(landmarks), fps, sum(x is not None for x in landmarks))
    return ClipTrack(path, fps, size[0], size[1], landmarks)


def read_frames(path: Path, wanted: set[int]) -> dict[int, np.ndarray]:
    """The RGB frames at the wanted indices (one sequential decode; only those are kept)."""
    cap = cv2.VideoCapture(str(path))
    out: dict[int, np.ndarray] = {}
    i, last = 0, max(wanted) if wanted else -1
    try:
        while i <= last:
            ok, bgr = cap.read()
            if not ok:
                break
            if i in wanted:
                out[i] = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            i += 1
    finally:
        cap.release()
    missing = wanted - set(out)
    if missing:
        raise InputError(f"{path}: frame {min(missing)} could not be decoded on the second pass")
    return out


def neutral_stretches(track: ClipTrack, episodes: list[Annotation], ranges: list[Range], margin: int) -> list[Stretch]:
    """Clean neutral stretches, longest first: a face, and at least `margin` frames from any episode or range
    (by-eye boundaries are approximate)."""
    n = track.n_frames
    clean = np.array([lm is not None for lm in track.landmarks], dtype=bool)
    for a, b in [(e.onset, e.offset) for e in episodes] + [(r.start, r.end) for r in ranges]:
        clean[max(0, a - margin) : min(n, b + margin + 1)] = False
    out: list[Stretch] = []
    i = 0
    while i < n:
        if not clean[i]:
            i += 1
            continue
        j = i
        while j + 1 < n and clean[j + 1]:
            j += 1
        out.append(Stretch(i, j))
        i = j + 1
    return sorted(out, key=lambda s: (-s.length, s.start))
