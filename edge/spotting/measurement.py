"""One frame's measurement for the spotter: landmarks (and the image) in, a scored Sample out.

Aligns the landmarks to the subject's neutral shape, estimates the action units from them and from
optical flow in facial regions (flow.py), takes the head's pose out of them (pose_residual.py),
smooths them, compares each with the adaptive baseline (z-scores in robust sigmas, the clearer of
landmarks and flow per AU) and scales down what blinks, talking and head motion contaminate
(gates.py). What the samples mean (an excursion, a new rest, an expression) is the state
machine's (spotter.py), which also decides which frames teach the baseline; this only measures.
Plain numpy and OpenCV on arrays: no camera stack.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np

from edge.config import SpottingConfig
from edge.spotting.align import Aligner, rotation_angles
from edge.spotting.baseline import Baseline
from edge.spotting.candidate import Sample, face_centre, head_speed, shift_speed
from edge.spotting.extent import combined_score, fuse
from edge.spotting.features import AU_NAMES, FeatureExtractor
from edge.spotting.flow import EarlyFlow, FlowChannel
from edge.spotting.flow_reference import FlowReference
from edge.spotting.gates import GATE_INPUTS, Gates
from edge.spotting.pose_residual import PoseResidual
from edge.spotting.smoothing import Boxcar

RESIDUAL_MAX = 0.04  # stable-point fit residual (IOD) beyond which a frame is unreliable
SMOOTH_MS = 20.0  # boxcar over the AU estimates (one frame at 30-50 fps, 3-4 at 120-200)
TRACK_SETTLE_MS = 100.0  # after detection finds a face, the tracked region takes this long to settle on it
FLOW_CALM_SHARE = 0.5  # the flow alone scoring under this share of the threshold: the image looks neutral


@dataclass
class Measured:
    """A frame's sample, and whether the flow's reference had drifted and was renewed on it (an
    excursion measured against the old reference is then void)."""

    sample: Sample
    flow_drifted: bool = False


class FrameMeasure:
    """Per subject: made afresh whenever the spotter forgets the subject (its `reset`)."""

    def __init__(self, cfg: SpottingConfig, fx: FeatureExtractor, baseline: Baseline) -> None:
        self.cfg = cfg
        self._fx = fx
        self._baseline = baseline
        self.pose = PoseResidual(len(AU_NAMES), keep=np.isin(AU_NAMES, GATE_INPUTS))
        self.aligner: Aligner | None = None
        self.flow = FlowChannel(fx.landmarks, fx.weights) if cfg.flow else None
        self.reference = FlowReference(self.flow, baseline, len(AU_NAMES)) if self.flow is not None else None
        self.gates = Gates()
        self._smooth = Boxcar(SMOOTH_MS)
        self._early: tuple[int, FlowChannel, Future[EarlyFlow | None]] | None = None
        self.flow_busy_ms = -np.inf  # last frame whose flow (alone) was not calm
        self._found_ms = -np.inf  # when detection last (re)found the face

    def prepare(self, frame: Any, pipeline: Any) -> None:
        """Before the pipeline runs on `frame`: start its optical flow on the pipeline's side
        thread from the previous frame's landmarks, so it runs beside the landmark model."""
        side = getattr(pipeline, "side", None)
        guide = getattr(pipeline, "previous_landmarks", None)
        image = getattr(frame, "image", None)
        if side is None or guide is None or image is None or self.flow is None or self.aligner is None:
            return
        self._early = (int(frame.index), self.flow, side.submit(self.flow.early, image, guide))

    def take_early(self, frame: Any) -> tuple[EarlyFlow | None, FlowChannel | None]:
        """The side thread's flow for this frame (joined on every path) and the channel it was taken on."""
        if self._early is None:
            return None, None
        index, channel, future = self._early
        self._early = None
        early = future.result()
        return (early, channel) if index == int(frame.index) else (None, None)

    def sample(self, frame: Any, res: Any, t_ms: float, early: EarlyFlow | None, channel: FlowChannel | None,
                recent: Callable[[], Iterator[Sample]]) -> Measured | None:
        """The sample of a frame with a face (None while the tracked region settles on a newly found
        face before any reference shape exists). `recent()`: the samples remembered, newest first."""
        if getattr(res, "detected", False):
            self._found_ms = t_ms
        settling = t_ms - self._found_ms < TRACK_SETTLE_MS
        if self.aligner is None:
            if settling:
                return None
            self.aligner = Aligner(res.landmarks)
        aligned = self.aligner.align(res.landmarks, rows=self._fx.landmarks)
        n = len(AU_NAMES)
        image = getattr(frame, "image", None)
        use_flow = self.flow is not None and image is not None
        early = early if channel is self.flow else None  # the channel was reset since: take the crop afresh
        flow = self.flow.update(t_ms, image, res.landmarks, early) if use_flow else np.zeros(n)  # type: ignore[union-attr]
        angles = self.pose.follow(t_ms, rotation_angles(aligned.rotation))
        estimates = self._fx.of_rows(aligned.points)
        f, t_mid = self._smooth(t_ms, np.concatenate([self.pose.remove(angles, estimates), flow]))
        base = self._baseline
        raw = f - base.median
        disp = self._fx.decouple(raw[:n])
        z = disp / base.sigma[:n]
        fdisp = raw[n:] if use_flow else None
        z_landmarks = z
        z_flow = fdisp / base.sigma[n:] if fdisp is not None else None
        if z_flow is not None:
            z = fuse(z, z_flow)
        speed = head_speed(t_ms, aligned.rotation, recent())
        centre, iod = face_centre(res.landmarks)
        shift = shift_speed(t_ms, centre, iod, recent())
        unreliable = aligned.residual > RESIDUAL_MAX or settling
        div = self.gates.update(t_ms, raw[:n], speed, base.sigma[:n], disp)
        zc = z / div
        score = combined_score(zc) if base.ready else 0.0
        landmark_score = combined_score(z_landmarks / div)
        threshold = self.cfg.threshold
        if z_flow is None or combined_score(z_flow / div) >= FLOW_CALM_SHARE * threshold:
            self.flow_busy_ms = t_ms
        drifted = False
        if self.reference is not None and fdisp is not None and base.ready:
            drifted = self.reference.drifted(t_ms, score, landmark_score, threshold, self.gates.blinking)
        if self.reference is not None:
            self.reference.after_talk(t_ms, self.gates.talking, landmark_score >= 0.5 * threshold)
        s = Sample(t_ms, int(frame.t_ns), int(frame.index), score, disp, aligned.rotation, speed, unreliable,
                   getattr(res, "pose", None), getattr(res, "emotion", None), t_mid, self.gates.blinking,
                   self.gates.talking, self.gates.talk.mouth_open, z=zc, fdisp=fdisp, f=f,
                   centre=centre, shift=shift, angles=angles, estimates=estimates, lids_down=self.gates.lids_down)
        return Measured(s, drifted)

    def calm(self, s: Sample) -> None:
        """A neutral frame: the flow reference may be renewed from it, the pose fit learns from it."""
        if s.unreliable or s.blink or s.talking:
            return
        if s.angles is not None and s.estimates is not None:
            before = self.pose.coef.copy() if self.cfg.pose_recorrect else None
            self.pose.add(s.t_ms, s.angles, s.estimates)
            if before is not None and (self.pose.coef != before).any():
                self._baseline.recorrect(self.pose.coef - before)
        if self.reference is not None and s.fdisp is not None:
            self.reference.calm(s.t_ms, s.f[len(AU_NAMES):])

    def interrupt_flow(self) -> None:
        """A frame that is not neutral: the flow's reference is not renewed across it."""
        if self.flow is not None:
            self.flow.interrupt()
