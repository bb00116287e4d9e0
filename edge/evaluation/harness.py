"""Scores footage: runs the whole pipeline over annotated videos, or scores a predictions CSV.

Inputs are checked before any long run starts, so a lab finds a wrong path or an
annotation beyond the end of a video in a second, not after an hour of
analysis: every video the annotations name under PATH must exist and every
frame index must lie inside it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2

from edge.errors import InputError
from edge.evaluation.metrics import Score, score
from edge.events.annotations import Annotation, AnnotationError, Range, read_annotations
from edge.spotting.reading import Reading
from edge.spotting.rejections import Rejection

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".m4v", ".webm")


@dataclass
class Evaluation:
    score: Score
    truths: list[Annotation]
    predictions: list[Annotation]
    frames: dict[str, int] = field(default_factory=dict)  # video -> frame count
    fps: dict[str, float] = field(default_factory=dict)
    rejections: dict[str, list[Rejection]] | None = None  # the spotter's per video (None: scored from a CSV)

    @property
    def videos(self) -> int:
        return len(self.frames) or len({a.video for a in self.truths})

    @property
    def minutes(self) -> float | None:
        """Minutes of footage scored, from each video's frames and frame rate (None when a rate is not known)."""
        if not self.frames or any(self.fps.get(v, 0.0) <= 0 for v in self.frames):
            return None
        return sum(n / self.fps[v] for v, n in self.frames.items()) / 60.0


def video_frames(path: Path) -> tuple[int, float]:
    """(frame count, fps) from the container; counts by decoding when the container does not say."""
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    try:
        if not cap.isOpened():
            raise InputError(f"{path}: not a readable video")
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        if n <= 0:
            n = 0
            while cap.grab():
                n += 1
        return n, fps
    finally:
        cap.release()


def check_bounds(csv_path: Path, rows: list[Annotation], video: str, frames: int) -> None:
    for r in rows:
        if r.video == video and r.offset >= frames:
            raise AnnotationError(
                f"{csv_path}: {video} frames {r.onset}-{r.offset}: offset {r.offset} is beyond the video's last frame {frames - 1}"
            )


def check_range_bounds(csv_path: Path, ranges: list[Range], video: str, frames: int) -> None:
    """As check_bounds, for a ranges file (talking, hidden, turned, no_face)."""
    for r in ranges:
        if r.video == video and r.end >= frames:
            raise AnnotationError(
                f"{csv_path}: {video} {r.kind} range {r.start}-{r.end}: end {r.end} is beyond the video's last frame {frames - 1}"
            )


def _name_for(f: Path, base: Path, root: Path) -> str:
    """A video's name as the CSV would write it: relative to the CSV's folder when under it."""
    f = f.resolve()
    for anchor in (base.resolve(), root.resolve()):
        if anchor in f.parents:
            return f.relative_to(anchor).as_posix()
    return f.name


def annotated_videos(path: Path, csv_path: Path, truths: list[Annotation], all_videos: bool = False) -> dict[str, Path]:
    """Video name -> file, for every video the annotations name that lies under `path` (a file or a folder).

    A video file given explicitly is scored even when no row names it: it is then footage with no
    expressions, where every prediction is a false positive. With `all_videos`, so is every video file
    under a folder.
    """
    base = csv_path.parent
    names = sorted({a.video for a in truths})
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if path.is_file():
        for n in names:
            if (base / n).resolve() == path.resolve():
                return {n: path}
        name = _name_for(path, base, path.parent)
        log.info("%s: no rows in %s: scored as footage without expressions", path, csv_path)
        return {name: path}
    out: dict[str, Path] = {}
    root = path.resolve()
    # PATH inside the CSV's folder: score the subset under PATH. Elsewhere: look for the names in PATH.
    subset = root == base.resolve() or base.resolve() in root.parents
    for n in names:
        f = (base / n).resolve()
        if root not in f.parents:
            if subset:
                continue
            f = (path / n).resolve()
        if not f.exists():
            raise InputError(f"{csv_path}: video {n} named by the annotations not found at {f}")
        out[n] = f
    if all_videos:
        known = {f for f in out.values()}
        for f in sorted(path.rglob("*")):
            if f.suffix.lower() in VIDEO_SUFFIXES and f.is_file() and f.resolve() not in known and ".partial." not in f.name:
                out[_name_for(f, base, path)] = f.resolve()
    if not out:
        raise InputError(f"{path}: none of the {len(names)} videos named by {csv_path} is under this folder"
                         + ("" if all_videos else " (--all-videos scores unannotated videos as expression-free)"))
    return out


def score_predictions(pred_csv: Path, gt_csv: Path) -> Evaluation:
    """Score a predictions CSV against ground truth, without running anything."""
    truths = read_annotations(gt_csv)
    preds = read_annotations(pred_csv)
    known = {a.video for a in truths}
    unknown = sorted({p.video for p in preds} - known)
    if unknown:
        raise InputError(f"{pred_csv}: predictions name video {unknown[0]} that {gt_csv} does not annotate")
    frames: dict[str, int] = {}
    fps: dict[str, float] = {}
    for v in sorted(known):
        f = gt_csv.parent / v
        if f.is_file():
            frames[v], fps[v] = video_frames(f)
            check_bounds(gt_csv, truths, v, frames[v])
            check_bounds(pred_csv, preds, v, frames[v])
    return Evaluation(score(truths, preds), truths, preds, frames, fps)


def run_pipeline(
    path: Path,
    gt_csv: Path,
    config_path: str | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    all_videos: bool = False,
) -> Evaluation:
    """Run the full pipeline (edge.analysis.analyse_video) on every annotated video under `path` and score it.

    `progress(video, frames_done, frames_total)` is called every 30 frames, over all videos.
    """
    truths = read_annotations(gt_csv)
    videos = annotated_videos(path, gt_csv, truths, all_videos)
    frames: dict[str, int] = {}
    fps: dict[str, float] = {}
    for name, f in videos.items():
        frames[name], fps[name] = video_frames(f)
        check_bounds(gt_csv, truths, name, frames[name])
    truths = [a for a in truths if a.video in videos]
    rejections: dict[str, list[Rejection]] = {}
    preds = predict(videos, frames, config_path, progress, rejections)
    for name in videos:
        log.info("%s: %d frames, %d events predicted, %d annotated", name, frames[name],
                 sum(p.video == name for p in preds), sum(t.video == name for t in truths))
    return Evaluation(score(truths, preds), truths, preds, frames, fps, rejections)


def predict(
    videos: dict[str, Path],
    frames: dict[str, int],
    config_path: str | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    rejections: dict[str, list[Rejection]] | None = None,
    readings: dict[str, list[Reading]] | None = None,
) -> list[Annotation]:
    """The whole pipeline's events on each video (name -> file) as annotation rows; `frames` gets the decoded counts,
    `rejections` (when given) each video's spotter rejections, to explain misses, `readings` its per-frame
    spotting readings (evaluation/agreement.py).

    `progress(video, frames_done, frames_total)` is called every 30 frames, over all videos.
    """
    # The vision stack loads only once the inputs are known good.
    from edge.analysis import analyse_video
    from edge.config import load_config
    from edge.sinks import ReadingsSink, Sink
    from edge.sources.frame import Frame
    from edge.vision.pipeline import FaceResult

    class FrameCounter(Sink):
        """Reports progress over all videos every 30 frames."""

        def __init__(self, name: str, before: int, total: int) -> None:
            self.name, self.done, self.total = name, before, total

        def on_result(self, frame: Frame, res: FaceResult) -> None:
            self.done += 1
            if progress and self.done % 30 == 0:
                progress(self.name, self.done, self.total)

    cfg = load_config(config_path)
    preds: list[Annotation] = []
    total = sum(frames.get(n, 0) for n in videos)
    before = 0
    for name, f in videos.items():
        sinks: list[Sink] = [FrameCounter(name, before, total)]
        if readings is not None:  # kept only when asked for
            trace = ReadingsSink()
            readings[name] = trace.readings
            sinks.append(trace)
        analysis = analyse_video(f, cfg, sinks=sinks)
        before += frames.get(name, 0)
        frames[name] = int(getattr(analysis, "frames", 0) or frames.get(name, 0))
        if rejections is not None:
            rejections[name] = list(analysis.rejections)
        for e in analysis.events:
            preds.append(Annotation(name, e.onset_frame, e.apex_frame, e.offset_frame, e.type, e.emotion, e.aus_label))
    if progress:
        progress("", total, total)
    return preds
