"""The streaming micro-expression spotter: landmarks in, finished events out.

Per frame: align the landmarks to the subject's neutral shape, compute the AU
estimates from the landmarks and from optical flow in facial regions (flow.py),
compare each with its adaptive baseline (z-scores in robust sigmas), keep the
clearer of the two per AU, mask what blinks, talking and head motion
contaminate, and run a small state machine on the strongest remaining z-score:

    IDLE --score >= threshold--> ACTIVE --score < low level--> CLOSING
    CLOSING --stays low for confirm_ms--> emit (micro/macro by duration)
    CLOSING --rises again--> ACTIVE;  ACTIVE longer than max_macro_ms --> re-baseline

All durations are milliseconds from frame timestamps, never frame counts, so
the same settings hold from 30 to 200 fps. Onset and offset are where the
score crosses a level relative to the event's own peak, so a subtle and a
strong expression of the same timing get the same extent. An event is emitted
`confirm_ms` (plus at most one frame) after its offset.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
from collections import deque
from concurrent.futures import Future
from datetime import datetime
from typing import Any, Callable, Iterator

import numpy as np

from edge import __version__
from edge.config import SpottingConfig, with_thresholds
from edge.events.clock import UtcAnchor
from edge.events.record import Event, utc_iso
from edge.spotting.align import Aligner, rotation_angles
from edge.spotting.baseline import Baseline
from edge.spotting.candidate import Sample, face_centre, head_speed, measure, reject_reason, shift_speed
from edge.spotting.describe import describe
from edge.spotting.extent import LOW_FRACTION, LOW_Z, combined_score, fuse
from edge.spotting.emotion import CnnNeutral
from edge.spotting.features import AU_NAMES, FeatureExtractor
from edge.spotting.flow import EarlyFlow, FlowChannel
from edge.spotting.flow_reference import FlowReference
from edge.spotting.gates import GATE_INPUTS, Gates, TalkHold, articulated
from edge.spotting.pose_residual import PoseResidual
from edge.spotting.side_detectors import SideDetectors, describe_side
from edge.spotting.rest import (
    HOLD_CHECK_MS, SETTLE_EMIT_SHARE, SETTLE_MS, emotion_shown, held, last_moments, levelled, new_rest,
)
from edge.spotting.smoothing import Boxcar

log = logging.getLogger(__name__)

CONFIRM_MS = 25.0  # the score must stay low this long before the event is closed
PREROLL_MS = 600.0  # history kept before an event to find its onset
RESIDUAL_MAX = 0.04  # stable-point fit residual (IOD) beyond which a frame is unreliable
LOST_RESET_MS = 1500.0  # face gone this long: drop the reference shape and baseline
NOISE_FLOOR = 0.0008  # smallest robust sigma of an AU estimate, IOD units
SMOOTH_MS = 20.0  # boxcar over the AU estimates (one frame at 30-50 fps, 3-4 at 120-200)
CNN_MIN_GAP_MS = 15.0  # at most one forced emotion CNN run per this interval
FLOW_NOISE_FLOOR = 0.0012  # smallest robust sigma of a flow AU estimate, IOD units (reference drift included)
WARMUP_MS = 1500.0  # neutral frames the baseline needs before spotting starts (the flow noise needs a few references)
CALM_SHARE = 0.8  # idle frames scoring under this share of the threshold feed the baseline (and the flow reference)
TRACK_SETTLE_MS = 100.0  # after detection finds a face, the tracked region takes this long to settle on it
FLOW_CALM_SHARE = 0.5  # the flow alone scoring under this share of the threshold: the image looks neutral


class Spotter:
    """Streaming spotter: `update(frame, res)` returns the events completed at this frame."""

    def __init__(
        self,
        cfg: SpottingConfig,
        versions: dict[str, str] | None = None,
        video: str = "",
        clock: UtcAnchor | Callable[[], datetime] | None = None,
    ) -> None:
        self.cfg = cfg
        self.versions = {"software": __version__, "models": ""} | (versions or {})
        self.video = video
        self._times = UtcAnchor.of(clock)  # frame time -> UTC, re-anchored when the wall clock steps
        self._fx = FeatureExtractor()
        self._pipeline: Any = None
        self.frames = 0
        self.rejected: dict[str, int] = {"blink": 0, "head_motion": 0, "talking": 0, "too_long": 0, "face_lost": 0,
                                         "flow_drift": 0, "settled": 0}
        self._side = SideDetectors()  # the CNN's episodes and the flashes beside the excursions
        self.reset()

    # -- public -------------------------------------------------------------

    def reset(self) -> None:
        """Forget the subject: new reference shape and baseline on the next face."""
        self._aligner: Aligner | None = None
        n = len(AU_NAMES)
        self._flow = FlowChannel(self._fx.landmarks, self._fx.weights) if self.cfg.flow else None
        floor = np.concatenate([np.full(n, NOISE_FLOOR), np.full(n, FLOW_NOISE_FLOOR)])
        self._baseline = Baseline(
            2 * n, self.cfg.baseline_s * 1000.0, floor, min_ms=min(WARMUP_MS, self.cfg.baseline_s * 500.0)
        )
        self._gates = Gates()
        self._pose = PoseResidual(n, keep=np.isin(AU_NAMES, GATE_INPUTS))
        self._reference = FlowReference(self._flow, self._baseline, n) if self._flow is not None else None
        self._history: deque[Sample] = deque()
        self._event: list[Sample] = []
        self._peak = 0.0
        self._below_since: float | None = None
        self._lost_since: float | None = None
        self._cnn_neutral = CnnNeutral()
        self._last_t = -np.inf
        self._smooth = Boxcar(SMOOTH_MS)
        self._last_cnn_ms = -np.inf
        self._hold = TalkHold()
        self._early: tuple[int, FlowChannel, Future[EarlyFlow | None]] | None = None
        self._above_ms = -np.inf
        self._flow_busy_ms = -np.inf  # last frame whose flow (alone) was not calm
        self._found_ms = -np.inf  # when detection last (re)found the face
        self._reported_ms = -np.inf  # offset of the last event reported
        self._hold_checked = False  # the open excursion was asked whether it is held (HOLD_CHECK_MS)
        self._side.reset()

    def set_context(self, pipeline: Any = None, versions: dict[str, str] | None = None) -> None:
        """The face pipeline (to run the emotion CNN at an apex) and the versions stamped on events."""
        self._pipeline = pipeline
        if versions:
            self.versions = self.versions | versions

    def set_thresholds(self, **kw: Any) -> dict[str, float]:
        """Change spotting settings live (MQTT `set_thresholds`); all-or-nothing (InputError)."""
        new = with_thresholds(self.cfg, kw)
        baseline_changed = new.baseline_s != self.cfg.baseline_s
        self.cfg = new
        if baseline_changed:
            self.reset()
        log.info("spotting thresholds now %s", dataclasses.asdict(new))
        return dataclasses.asdict(new)

    def prepare(self, frame: Any) -> None:
        """Before the pipeline runs on `frame`: start its optical flow on the pipeline's side
        thread from the previous frame's landmarks, so it runs beside the landmark model."""
        side = getattr(self._pipeline, "side", None)
        guide = getattr(self._pipeline, "previous_landmarks", None)
        image = getattr(frame, "image", None)
        if side is None or guide is None or image is None or self._flow is None or self._aligner is None:
            return
        self._early = (int(frame.index), self._flow, side.submit(self._flow.early, image, guide))

    def _take_early(self, frame: Any) -> tuple[EarlyFlow | None, FlowChannel | None]:
        """The side thread's flow for this frame (joined on every path) and the channel it was taken on."""
        if self._early is None:
            return None, None
        index, channel, future = self._early
        self._early = None
        early = future.result()
        return (early, channel) if index == int(frame.index) else (None, None)

    def update(self, frame: Any, res: Any) -> list[Event]:
        """Feed one frame's face result; return events whose offset was confirmed now."""
        early, channel = self._take_early(frame)
        t_ns = int(frame.t_ns)
        t_ms = t_ns / 1e6
        self.frames += 1
        self._times.observe(t_ns)
        if t_ms <= self._last_t:
            log.warning("frame %s: timestamp went backwards; restarting the baseline", frame.index)
            self._side.restart()
            self.reset()
        self._last_t = t_ms
        if not getattr(res, "face", False) or getattr(res, "landmarks", None) is None:
            self._side.flush()
            return self._with_episodes(self._face_lost(t_ms))
        self._lost_since = None
        if getattr(res, "detected", False):
            self._found_ms = t_ms
        settling = t_ms - self._found_ms < TRACK_SETTLE_MS
        if self._aligner is None:
            if settling:
                return []
            self._aligner = Aligner(res.landmarks)
        aligned = self._aligner.align(res.landmarks, rows=self._fx.landmarks)
        n = len(AU_NAMES)
        image = getattr(frame, "image", None)
        use_flow = self._flow is not None and image is not None
        early = early if channel is self._flow else None  # the channel was reset since: take the crop afresh
        flow = self._flow.update(t_ms, image, res.landmarks, early) if use_flow else np.zeros(n)  # type: ignore[union-attr]
        angles = self._pose.follow(t_ms, rotation_angles(aligned.rotation))
        estimates = self._fx.of_rows(aligned.points)
        f, t_mid = self._smooth(t_ms, np.concatenate([self._pose.remove(angles, estimates), flow]))
        base = self._baseline
        raw = f - base.median
        disp = self._fx.decouple(raw[:n])
        z = disp / base.sigma[:n]
        fdisp = raw[n:] if use_flow else None
        z_landmarks = z
        z_flow = fdisp / base.sigma[n:] if fdisp is not None else None
        if z_flow is not None:
            z = fuse(z, z_flow)
        speed = head_speed(t_ms, aligned.rotation, self._newest_first())
        centre, iod = face_centre(res.landmarks)
        shift = shift_speed(t_ms, centre, iod, self._newest_first())
        unreliable = aligned.residual > RESIDUAL_MAX or settling
        div = self._gates.update(t_ms, raw[:n], speed, base.sigma[:n])
        zc = z / div
        score = combined_score(zc) if base.ready else 0.0
        landmark_score = combined_score(z_landmarks / div)
        if z_flow is None or combined_score(z_flow / div) >= FLOW_CALM_SHARE * self.cfg.threshold:
            self._flow_busy_ms = t_ms
        if fdisp is not None and base.ready:
            self._check_flow_drift(t_ms, score, landmark_score)
        if self._reference is not None:
            self._reference.after_talk(t_ms, self._gates.talking, landmark_score >= 0.5 * self.cfg.threshold)
        s = Sample(t_ms, t_ns, int(frame.index), score, disp, aligned.rotation, speed, unreliable,
                    getattr(res, "pose", None), getattr(res, "emotion", None), t_mid, self._gates.blinking,
                    self._gates.talking, self._gates.talk.mouth_open, z=zc, fdisp=fdisp, f=f,
                    centre=centre, shift=shift, angles=angles, estimates=estimates)
        self._maybe_classify(frame, res, s)
        self._side.update(s)
        if not base.ready:
            base.add(t_ms, f)
            self._calm(s)
            self._remember(s)
            self._cnn_neutral.add(s.emotion)
            return self._with_episodes([])
        return self._with_episodes(self._release(s, self._step(s, f)))

    def _with_episodes(self, events: list[Event], final: bool = False) -> list[Event]:
        """The spotter's events, then the episodes and flashes it can no longer overlap (side_detectors.py)."""
        busy = [x.index for x in itertools.islice(itertools.chain(self._history, self._event), 1)]
        busy += self._hold.onsets()
        ready = self._side.ready(events, min(busy, default=None), final)
        out = events + [describe_side(x, self._fx, self._utc, self.versions, self.video, self.cfg.max_micro_ms)
                        for x in ready]
        for ev in out[len(events):]:
            ev.clock_synced = self._times.synced
        return out

    def _release(self, s: Sample, done: list[tuple[Event, float, float, bool]]) -> list[Event]:
        """Events without an open mouth now; the others once talking is ruled out (TalkHold)."""
        out = []
        for ev, t_on, t_off, mouth in done:
            if mouth:
                self._hold.hold(ev, t_on, t_off)
            else:
                out.append(ev)
        released, talking = self._hold.release(s.t_ms, self._gates.talk)
        self.rejected["talking"] += talking
        return out + released

    def flush(self) -> list[Event]:
        """End of stream: close an event still open if its offset was already seen."""
        out: list[Event] = self._hold.flush()
        still_held = bool(self._event) and held(self._event, self.cfg.threshold, self.cfg.max_micro_ms)
        if self._event and (self._below_since is not None or still_held):
            # An expression still held when the footage ends is reported up to its last frame.
            done = self._finish(cap=self._below_since is None)
            if done is not None:
                out.append(done[0])
        self._abandon()
        self._history.clear()
        self._side.flush()
        return self._with_episodes(out, final=True)

    # -- state machine ------------------------------------------------------

    def _step(self, s: Sample, f: np.ndarray) -> list[tuple[Event, float, float, bool]]:
        thr = self.cfg.threshold
        if not self._event:
            if s.score >= thr and not s.unreliable:
                self._event = [s]
                self._hold_checked = False
                self._above_ms = s.t_ms
                self._peak = s.score
                self._below_since = None
                return []
            if s.score < thr * CALM_SHARE and not (s.unreliable or s.blink or s.talking):
                self._baseline.add(s.t_ms, f)
                self._cnn_neutral.add(s.emotion)
                self._calm(s)
            elif self._flow is not None:
                self._flow.interrupt()
            self._remember(s)
            return []
        if self._flow is not None:
            self._flow.interrupt()
        self._event.append(s)
        self._peak = max(self._peak, s.score)
        level = max(LOW_Z, LOW_FRACTION * self._peak)
        if s.score >= level:
            self._below_since = None
        elif self._below_since is None:
            self._below_since = s.t_ms
        if s.score >= thr:
            self._above_ms = s.t_ms
        if self._below_since is not None and s.t_ms - self._below_since >= CONFIRM_MS:
            done = self._finish()
            return [done] if done is not None else []
        if self._settled(s):
            return self._settle()
        if self._new_rest(s):
            self.rejected["too_long"] += 1
            log.debug("excursion held %.0f ms with no emotion to show for it: a new rest", HOLD_CHECK_MS)
            self._rebase(s.t_ms, last_moments(self._event, s.t_ms))
            self._abandon()
            self._history.clear()
            return []
        if s.t_ms - self._event[0].t_ms > self.cfg.max_macro_ms:
            # Held this long, it is a macro expression (a smile through a whole answer) or a new
            # rest: either way it is reported up to now, and where the face is now becomes neutral.
            self.rejected["too_long"] += 1
            log.debug("excursion longer than %.0f ms: reported so far; its last moments are the new neutral",
                      self.cfg.max_macro_ms)
            rest = last_moments(self._event, s.t_ms)
            done = self._finish(cap=True)
            self._rebase(s.t_ms, rest)
            self._history.clear()
            return [done] if done is not None else []
        return []

    def _new_rest(self, s: Sample) -> bool:
        """Asked once, HOLD_CHECK_MS into an excursion (rest.new_rest)."""
        if self._hold_checked or s.t_ms - self._event[0].t_ms < HOLD_CHECK_MS:
            return False
        self._hold_checked = True
        return new_rest(self._event, s.t_ms, self._cnn_neutral.value)

    def _settled(self, s: Sample) -> bool:
        """The score has stayed under the threshold (or, past a micro expression's length, the flow has
        seen a neutral image) and stopped falling for SETTLE_MS: the face came to rest somewhere else
        (the mouth after speech, a changed posture, landmarks left off), not back to neutral."""
        if s.t_ms - self._above_ms < SETTLE_MS and not self._landmarks_stuck(s):
            return False
        return levelled(self._event, s.t_ms)

    def _landmarks_stuck(self, s: Sample) -> bool:
        """Longer than any micro expression, and the image has looked neutral to the flow for
        SETTLE_MS: the landmarks, not the face, stayed displaced."""
        return s.t_ms - self._event[0].t_ms > self.cfg.max_micro_ms and s.t_ms - self._flow_busy_ms >= SETTLE_MS

    def _settle(self) -> list[tuple[Event, float, float, bool]]:
        """Close the excursion against its new rest level, and take that rest as the neutral."""
        now = self._event[-1].t_ms
        rest = last_moments(self._event, now)
        floor = float(np.median([x.score for x in rest]))
        # A step to a new rest (posture, the mouth after speech) is no expression; an expression
        # that came most of the way back down before its face settled is.
        done = self._finish(floor) if floor < SETTLE_EMIT_SHARE * self._peak else self._drop()
        self._rebase(now, rest)
        self.rejected["settled"] += 1
        return [done] if done is not None else []

    def _rebase(self, now: float, rest: list[Sample]) -> None:
        """These samples are the neutral from now on."""
        self._baseline.rebase(now, [x.f for x in rest if x.f is not None])

    def _drop(self) -> None:
        """Forget the current excursion (its frames seed the next one's pre-roll)."""
        self._history.clear()
        for x in self._event:
            self._remember(x)
        self._abandon()

    def _abandon(self) -> None:
        """No excursion is under way any more."""
        self._event = []
        self._below_since = None

    def _finish(self, floor: float = 0.0, cap: bool = False) -> tuple[Event, float, float, bool] | None:
        """Close the current event: boundaries, rejections, emotion, record; and whether talking may
        explain it (the mouth opened and articulation carries its apex).

        `floor`: the score level the excursion settled at (its offset is measured above it);
        `cap`: the excursion is still under way (too long, or the stream ended): it ends at its last frame."""
        # The pre-roll never reaches back into an event already reported: one expression, one event.
        pre = [x for x in self._history if x.t_ms > self._reported_ms]
        frames = pre + self._event
        n_pre = len(pre)
        self._drop()
        ext = measure(frames, n_pre, self.cfg, floor)
        if cap:
            ext = dataclasses.replace(ext, off=len(frames) - 1, kind="macro",
                                      duration_ms=float(frames[-1].t_ms - frames[ext.on].t_ms))
        span = frames[ext.on:ext.off + 1]
        reason = reject_reason(span, frames[ext.off:], ext.peak, self.cfg.threshold, self.cfg.max_micro_ms,
                               emotion_shown(span, self._cnn_neutral.value))
        if reason:
            self.rejected[reason] += 1
            log.debug("candidate at frame %d rejected: %s", frames[ext.apex].index, reason)
            return None
        if ext.duration_ms < self.cfg.min_micro_ms - ext.frame_ms:
            return None
        if ext.duration_ms > self.cfg.max_macro_ms and not cap:
            self.rejected["too_long"] += 1
            return None
        self._reported_ms = frames[ext.off].t_ms
        ev = describe(frames, ext, self._fx, self._baseline.sigma[len(AU_NAMES):], self._cnn_neutral.value,
                      self._utc, self.versions, self.video)
        ev.clock_synced = self._times.synced
        # The mouth counts over the whole excursion, not only its measured extent: talking's next
        # syllable can open it just after the offset.
        mouth = any(x.mouth_open or x.talking for x in frames[ext.on:])
        return ev, frames[ext.on].t_ms, frames[ext.off].t_ms, mouth and articulated(frames[ext.apex])

    # -- helpers ------------------------------------------------------------

    def _face_lost(self, t_ms: float) -> list[Event]:
        if self._lost_since is None:
            self._lost_since = t_ms
        if self._event:
            self.rejected["face_lost"] += 1
            self._abandon()
        self._history.clear()
        if t_ms - self._lost_since >= LOST_RESET_MS and self._aligner is not None:
            log.info("face lost for %.0f ms: new reference and baseline on the next face", t_ms - self._lost_since)
            lost = self._lost_since
            self.reset()
            self._lost_since = lost
            self._last_t = t_ms
        return []

    def _maybe_classify(self, frame: Any, res: Any, s: Sample) -> None:
        """Ask the pipeline for the emotion CNN at a rising candidate apex (if it did not run)."""
        if self._pipeline is None or s.emotion is not None or not self._event:
            return
        if s.score > self._peak and s.t_ms - self._last_cnn_ms >= CNN_MIN_GAP_MS:
            s.emotion = self._pipeline.classify_emotion(frame, res)
        if s.emotion is not None:
            self._last_cnn_ms = s.t_ms

    def _newest_first(self) -> Iterator[Sample]:
        """The samples remembered (the open excursion, then the pre-roll), newest first."""
        return itertools.chain(reversed(self._event), reversed(self._history))

    def _check_flow_drift(self, t_ms: float, score: float, landmark_score: float) -> None:
        assert self._reference is not None
        if not self._reference.drifted(t_ms, score, landmark_score, self.cfg.threshold, self._gates.blinking):
            return
        if self._event:
            self.rejected["flow_drift"] += 1
            log.debug("flow drifted from its reference: renewed, excursion dropped")
            self._abandon()

    def _calm(self, s: Sample) -> None:
        """A neutral frame: the flow reference may be renewed from it, the pose fit learns from it."""
        if s.unreliable or s.blink or s.talking:
            return
        if s.angles is not None and s.estimates is not None:
            self._pose.add(s.t_ms, s.angles, s.estimates)
        if self._reference is not None and s.fdisp is not None:
            self._reference.calm(s.t_ms, s.f[len(AU_NAMES):])

    def _remember(self, s: Sample) -> None:
        self._history.append(s)
        while self._history and self._history[0].t_ms < s.t_ms - PREROLL_MS:
            self._history.popleft()

    def _utc(self, t_ns: int) -> str:
        return utc_iso(self._times.utc(t_ns))
