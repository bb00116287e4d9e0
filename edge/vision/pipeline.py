"""The per-frame face pipeline: detect when lost, track 468 landmarks, pose, emotion."""

from __future__ import annotations

import logging
import os
import sys
import time
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge.config import VisionConfig
from edge.sources.frame import Frame
from edge.vision.detector import FaceDetector
from edge.vision.emotion import EmotionClassifier
from edge.vision.geometry import bounds, follow
from edge.vision.landmarks import FaceLandmarker, roi_from_detection, roi_from_landmarks
from edge.errors import ModelError
from edge.vision.fp16 import wants_fp16
from edge.vision.models import Manifest, load_manifest, models_version, verify, verify_all
from edge.vision.pose import HeadPose, head_pose
from edge.vision.runtime import Runtime, find_runtime, load_interpreter

log = logging.getLogger(__name__)

STAGES = ("detect", "landmarks", "pose", "emotion")
ROI_GAIN = 0.5  # share of the way the tracked region moves to the landmarks' region per frame
ROI_JUMP = 0.08  # ... except a move larger than this share of its size, taken at once


@dataclass(slots=True)
class FaceResult:
    """What the vision stage knows about one frame; the spotter's input."""

    frame_index: int
    t_ns: int
    face: bool = False
    box: tuple[float, float, float, float] | None = None
    landmarks: np.ndarray | None = None  # (468, 3) float32, x/y image pixels
    presence: float = 0.0
    pose: HeadPose | None = None
    emotion: np.ndarray | None = None  # (7,) FER2013 softmax, None where not run
    detected: bool = False  # detection ran on this frame (tracking was lost)
    timings_ms: dict[str, float] = field(default_factory=dict)


def usable_cores() -> int:
    """Cores this process may run on: `taskset` and systemd's CPUAffinity= narrow it, os.cpu_count() does not see them."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def default_threads(model: str, configured: int) -> int:
    """Threads per model: a second XNNPACK thread only for the landmark model, and only with
    cores to spare (4+, the Pi 5); on 2 cores it measured slower (docs/benchmarks.md)."""
    if configured > 0:
        return configured
    cores = usable_cores()
    return 2 if model == "face_landmark" and cores >= 4 else 1


class FacePipeline:
    """Detection only when tracking is lost; landmarks every frame; emotion every N frames.

    With a side thread, work that only needs to know roughly where the face is
    (the emotion CNN's crop, the spotter's flow crop) starts from the previous
    frame's landmarks on a second core while the landmark model runs, so a
    frame's latency is the landmark model's, not the sum of all models.
    """

    def __init__(
        self,
        models_dir: Path | None = None,
        threads: int = 0,
        detect_threshold: float = 0.5,
        presence_threshold: float = 0.5,
        emotion_every: int = 4,
        runtime: Runtime | None = None,
        side_thread: bool = False,
        gil_switch_ms: float = 0.0,
        landmark_precision: str = "fp32",
    ) -> None:
        self.manifest: Manifest = load_manifest(models_dir)
        paths = verify_all(self.manifest)
        self.landmark_model = self._landmark_model(paths, landmark_precision)
        self.runtime = runtime or find_runtime()
        self.threads = {name: default_threads(name, threads) for name in paths}
        self.detector = FaceDetector(
            load_interpreter(paths["face_detection"], self.threads["face_detection"], self.runtime), detect_threshold
        )
        self.landmarker = FaceLandmarker(
            load_interpreter(paths[self.landmark_model], self.threads["face_landmark"], self.runtime)
        )
        self.emotion = EmotionClassifier(load_interpreter(paths["emotion"], self.threads["emotion"], self.runtime))
        self.presence_threshold = presence_threshold
        self.emotion_every = max(1, emotion_every)
        self.models_version = models_version(self.manifest)
        if self.landmark_model != "face_landmark":
            self.models_version += f"+{self.landmark_model}:{self.manifest.derived[self.landmark_model].sha256[:8]}"
        self._roi = None
        self._since_emotion = 0
        self._previous: np.ndarray | None = None  # last frame's landmarks, None when it had no face
        self.side: ThreadPoolExecutor | None = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="side") if side_thread else None
        )
        self._switch_before: float | None = None
        if self.side is not None and gil_switch_ms > 0:
            # Process-wide, so it is put back on close(). With Python's 5 ms, the main thread
            # often waited that long for the GIL after invoke() while the side thread ran numpy
            # (per-frame work p90 7.3-8.0 ms -> 5.7 ms at 0.5 ms; docs/benchmarks.md).
            self._switch_before = sys.getswitchinterval()
            sys.setswitchinterval(gil_switch_ms / 1000.0)
        log.info("face pipeline on %s %s, threads %s", self.runtime.name, self.runtime.version, self.threads)

    @classmethod
    def from_config(cls, cfg: VisionConfig, runtime: Runtime | None = None) -> "FacePipeline":
        return cls(
            models_dir=Path(cfg.models_dir) if cfg.models_dir else None,
            threads=cfg.threads,
            detect_threshold=cfg.detect_threshold,
            presence_threshold=cfg.presence_threshold,
            emotion_every=cfg.emotion_every,
            runtime=runtime,
            side_thread=cfg.side_thread,
            gil_switch_ms=cfg.gil_switch_ms,
            landmark_precision=cfg.landmark_precision,
        )

    def _landmark_model(self, paths: dict[str, Path], precision: str) -> str:
        """The landmark model to load: the fp16-hinted one where `precision` wants it and it verifies."""
        name = "face_landmark_fp16"
        if not wants_fp16(precision) or name not in self.manifest.derived:
            return "face_landmark"
        try:
            paths[name] = verify(self.manifest, name)
        except ModelError as e:
            log.warning("fp16 landmark model unavailable, using the float one: %s", e)
            return "face_landmark"
        log.info("landmark model: %s (XNNPACK computes in fp16 where the CPU has fp16 arithmetic)", name)
        return name

    @property
    def previous_landmarks(self) -> np.ndarray | None:
        """The last processed frame's landmarks (None if it had no face): where this frame's face roughly is."""
        return self._previous

    def reset(self) -> None:
        self._roi = None
        self._since_emotion = 0
        self._previous = None

    def close(self) -> None:
        """Stop the side thread (idempotent)."""
        if self.side is not None:
            self.side.shutdown(wait=True)
            self.side = None
        if self._switch_before is not None:
            sys.setswitchinterval(self._switch_before)
            self._switch_before = None

    def process(self, frame: Frame) -> FaceResult:
        """The whole frame (the serial loop): tracking, with the emotion CNN beside it when due."""
        early = self.start_emotion(frame, self.side)
        try:
            res = self.track(frame)
        except BaseException:
            if early is not None:  # joined on every path: the CNN's interpreter must be idle before anyone else calls it
                early.exception()
            raise
        return self.finish(frame, res, early)

    def start_emotion(self, frame: Frame, executor: Executor | None) -> Future[tuple[np.ndarray, float]] | None:
        """Start the emotion CNN on `executor` from the previous frame's landmarks if it is due on this frame.

        Split from `track` so the pipelined loop (edge.loop) can run it on the spotting stage in frame
        order, with exactly the serial loop's schedule and inputs."""
        if executor is not None and self._previous is not None and self._since_emotion + 1 >= self.emotion_every:
            return executor.submit(self._classify_timed, frame.image, self._previous)
        return None

    def finish(self, frame: Frame, res: FaceResult, early: Future[tuple[np.ndarray, float]] | None) -> FaceResult:
        """After tracking: head pose, and the emotion CNN's output (joined from `early`, or run now when due)."""
        emotion, ms = early.result() if early is not None else (None, 0.0)
        if res.landmarks is not None:
            t0 = time.perf_counter_ns()
            res.pose = head_pose(res.landmarks)
            res.timings_ms["pose"] = (time.perf_counter_ns() - t0) / 1e6
        self._previous = res.landmarks
        if early is not None and res.face and not res.detected:  # re-detected: the old crop may miss the face
            res.emotion = emotion
            res.timings_ms["emotion"] = ms
            self._since_emotion = 0
        elif res.face:
            self._since_emotion += 1
            if self._since_emotion >= self.emotion_every or res.detected:
                self.classify_emotion(frame, res)
        return res

    def _classify_timed(self, image: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, float]:
        t0 = time.perf_counter_ns()
        return self.emotion.classify(image, landmarks), (time.perf_counter_ns() - t0) / 1e6

    def track(self, frame: Frame) -> FaceResult:
        """Detection if lost, landmarks, the next frame's region: everything the next frame's tracking
        waits for, and nothing else (pose and emotion are `finish`'s)."""
        res = FaceResult(frame.index, frame.t_ns)
        t = res.timings_ms
        image = frame.image
        lm = None
        if self._roi is not None:
            t0 = time.perf_counter_ns()
            lm, presence = self.landmarker.run(image, self._roi)
            t["landmarks"] = (time.perf_counter_ns() - t0) / 1e6
            if presence < self.presence_threshold:
                lm = None  # lost: detect again on this same frame
        if lm is None:
            t0 = time.perf_counter_ns()
            dets = self.detector.detect(image)
            t["detect"] = (time.perf_counter_ns() - t0) / 1e6
            res.detected = True
            self._roi = None
            if not dets:
                return res
            t0 = time.perf_counter_ns()
            lm, presence = self.landmarker.run(image, roi_from_detection(dets[0]))
            t["landmarks"] = t.get("landmarks", 0.0) + (time.perf_counter_ns() - t0) / 1e6
            if presence < self.presence_threshold:
                return res
        res.face, res.landmarks, res.presence = True, lm, presence
        res.box = bounds(lm)
        self._roi = follow(self._roi, roi_from_landmarks(lm, res.box), ROI_GAIN, ROI_JUMP)  # None after a detection
        return res

    def classify_emotion(self, frame: Frame, res: FaceResult) -> np.ndarray | None:
        """Run the CNN now (the spotter asks at a candidate apex); None without a face."""
        if res.landmarks is None:
            return None
        t0 = time.perf_counter_ns()
        res.emotion = self.emotion.classify(frame.image, res.landmarks)
        res.timings_ms["emotion"] = res.timings_ms.get("emotion", 0.0) + (time.perf_counter_ns() - t0) / 1e6
        self._since_emotion = 0
        return res.emotion
