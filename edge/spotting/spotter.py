"""The streaming micro-expression spotter: landmarks in, finished events out.

Per frame, measurement.py aligns the landmarks to the subject's neutral shape,
computes the AU estimates from the landmarks and from optical flow in facial
regions, compares each with its adaptive baseline (z-scores in robust sigmas),
keeps the clearer of the two per AU and masks what blinks, talking and head
motion contaminate; this module runs a small state machine on the strongest
remaining z-score:

    IDLE --score >= threshold--> ACTIVE --score < low level--> CLOSING
    CLOSING --stays low for confirm_ms--> emit (micro/macro by duration)
    CLOSING --rises again--> ACTIVE;  ACTIVE longer than max_macro_ms --> re-baseline
    ACTIVE 4 s with no emotion in the CNN --> a new rest: re-baseline, and report what stood
        out of that rest while it held (rescan.py)

All durations are milliseconds from frame timestamps, never frame counts, so
the same settings hold from 30 to 200 fps. Onset and offset are where the score crosses a level
relative to the event's own peak (the onset above the level the score rested at before it), so a
subtle and a strong expression of the same timing get the same extent. An event is emitted
`confirm_ms` (plus at most one frame) after its offset; a macro smile waits until
nothing under way could continue it (continuation.py).
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
from collections import deque
from datetime import datetime
from typing import Any, Callable, Iterator

import numpy as np

from edge import __version__
from edge.config import SpottingConfig, with_thresholds
from edge.events.clock import UtcAnchor
from edge.events.record import Event, utc_iso
from edge.spotting.baseline import Baseline
from edge.spotting.candidate import Extent, Sample, measure
from edge.spotting.continuation import MacroChain
from edge.spotting.describe import describe
from edge.spotting.extent import LOW_FRACTION, LOW_Z
from edge.spotting.emotion import CnnNeutral
from edge.spotting.features import AU_NAMES, FeatureExtractor
from edge.spotting.gates import LipRhythm, TalkHold
from edge.spotting.judge import Closed, closed, verdict
from edge.spotting.masked import masked_before
from edge.spotting.measurement import FrameMeasure
from edge.spotting.episodes import Episode
from edge.spotting.flashes import Flash
from edge.spotting.reading import Reading
from edge.spotting.rejections import KEEP, Rejection, beside, rejection
from edge.spotting.rescan import expressions_in
from edge.spotting.side_detectors import SideDetectors, describe_side
from edge.spotting.rest import (
    HOLD_CHECK_MS, held, last_moments, new_rest, settled, settled_at,
)

log = logging.getLogger(__name__)

CONFIRM_MS = 25.0  # the score must stay low this long before the event is closed
PREROLL_MS = 600.0  # history kept before an event to find its onset
LOST_RESET_MS = 1500.0  # face gone this long: drop the reference shape and baseline
NOISE_FLOOR = 0.0008  # smallest robust sigma of an AU estimate, IOD units
CNN_MIN_GAP_MS = 15.0  # at most one forced emotion CNN run per this interval
FLOW_NOISE_FLOOR = 0.0012  # smallest robust sigma of a flow AU estimate, IOD units (reference drift included)
WARMUP_MS = 1500.0  # neutral frames the baseline needs before spotting starts (the flow noise needs a few references)
CALM_SHARE = 0.8  # idle frames scoring under this share of the threshold feed the baseline (and the flow reference)


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
                                         "flow_drift": 0, "settled": 0, "merged": 0}
        self.rejections: deque[Rejection] = deque(maxlen=KEEP)  # the recent ones with their frames
        self._side = SideDetectors()  # the CNN's episodes and the flashes beside the excursions
        self._chain = MacroChain()  # macro events wait here for their continuation (outlives reset())
        self._carry: list[Event] = []  # released by a restart, reported with the frame's events
        self.reading: Reading | None = None  # the last frame's, None when it had no face (or none measured yet)
        self.reset()

    # -- public -------------------------------------------------------------

    def reset(self) -> None:
        """Forget the subject: new reference shape and baseline on the next face."""
        n = len(AU_NAMES)
        floor = np.concatenate([np.full(n, NOISE_FLOOR), np.full(n, FLOW_NOISE_FLOOR)])
        self._baseline = Baseline(
            2 * n, self.cfg.baseline_s * 1000.0, floor, min_ms=min(WARMUP_MS, self.cfg.baseline_s * 500.0)
        )
        self._measure = FrameMeasure(self.cfg, self._fx, self._baseline)
        self._history: deque[Sample] = deque()
        self._event: list[Sample] = []
        self._peak = 0.0
        self._below_since: float | None = None
        self._lost_since: float | None = None
        self._cnn_neutral = CnnNeutral()
        self._last_t = -np.inf
        self._last_cnn_ms = -np.inf
        self._hold = TalkHold()
        self._rhythm = LipRhythm()
        self._above_ms = -np.inf
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
        """Before the pipeline runs on `frame`: its optical flow starts on the pipeline's side thread
        (FrameMeasure.prepare), beside the landmark model."""
        self._measure.prepare(frame, self._pipeline)

    def update(self, frame: Any, res: Any) -> list[Event]:
        """Feed one frame's face result; return events whose offset was confirmed now."""
        early, channel = self._measure.take_early(frame)
        t_ns = int(frame.t_ns)
        t_ms = t_ns / 1e6
        self.frames += 1
        self._times.observe(t_ns)
        if t_ms <= self._last_t:
            log.warning("frame %s: timestamp went backwards; restarting the baseline", frame.index)
            self._carry += self._chain.flush()
            self._side.restart()
            self.reset()
        self._last_t = t_ms
        self.reading = None
        if not getattr(res, "face", False) or getattr(res, "landmarks", None) is None:
            self._side.flush()
            return self._with_episodes(self._face_lost(t_ms))
        self._lost_since = None
        measured = self._measure.sample(frame, res, t_ms, early, channel, self._newest_first)
        if measured is None:
            return []
        s = measured.sample
        self.reading = Reading.of(s)
        if measured.flow_drifted and self._event:
            self._reject("flow_drift", self._event)
            log.debug("flow drifted from its reference: renewed, excursion dropped")
            self._abandon()
        self._maybe_classify(frame, res, s)
        self._side.update(s)
        base = self._baseline
        if not base.ready:
            base.add(t_ms, s.f, s.angles)
            self._measure.calm(s)
            self._remember(s)
            self._cnn_neutral.add(s.emotion)
            return self._with_episodes([])
        return self._with_episodes(self._release(s, self._step(s)))

    def _with_episodes(self, events: list[Event], final: bool = False) -> list[Event]:
        """The spotter's events, then the episodes and flashes it can no longer overlap (side_detectors.py)."""
        busy = [x.index for x in itertools.islice(itertools.chain(self._history, self._event), 1)]
        busy += self._hold.onsets()
        out = self._side.same.keep(events)

        def emit(found: Episode | Flash) -> bool:
            """Describe what the queue releases and add it to `out` unless the last check drops it."""
            ev = describe_side(found, self._fx, self._utc, self.versions, self.video, self.cfg.max_micro_ms)
            ev.clock_synced = self._times.synced
            kept = self._side.same.keep([ev])
            out.extend(kept)
            return bool(kept)

        self._side.ready(events, min(busy, default=None), final, emit)
        carry, self._carry = self._carry, []
        if final:
            return carry + self._chain.take(out, None)  # nothing under way: everything held goes out
        busy += self._side.busy_from()
        return carry + self._chain.take(out, min(busy, default=None))

    def _release(self, s: Sample, done: list[Closed]) -> list[Event]:
        """Events without an open mouth now; the others once talking is ruled out (TalkHold)."""
        out = []
        for ev, t_on, t_off, mouth, peak in done:
            if mouth:
                self._hold.hold(ev, t_on, t_off, peak)
            else:
                out.append(ev)
        released, speech = self._hold.release(s.t_ms, self._measure.gates.talk)
        for ev, peak in speech:  # recorded like every other rejection, so a miss there is explained
            self._reject("talking", Rejection("talking", ev.onset_frame, ev.apex_frame, ev.offset_frame, peak))
        return out + released

    def flush(self) -> list[Event]:
        """End of stream: close an event still open if its offset was already seen."""
        out: list[Event] = self._hold.flush()
        still_held = bool(self._event) and held(self._event, self.cfg.threshold, self.cfg.max_micro_ms)
        if self._event and (self._below_since is not None or still_held):
            # An expression still held when the footage ends is reported up to its last frame.
            out += [done[0] for done in self._finish(cap=self._below_since is None)]
        self._abandon()
        self._history.clear()
        self._side.flush()
        return self._with_episodes(out, final=True)

    # -- state machine ------------------------------------------------------

    def _step(self, s: Sample) -> list[Closed]:
        thr = self.cfg.threshold
        self._chain.observe(s.index, s.score, s.t_ms)
        if not self._event:
            if s.score >= thr and not s.unreliable:
                self._event = [s]
                self._hold_checked = False
                self._above_ms = s.t_ms
                self._peak = s.score
                self._below_since = None
                return []
            if s.score < thr * CALM_SHARE and not (s.unreliable or s.blink or s.talking):
                self._baseline.add(s.t_ms, s.f, s.angles)
                self._cnn_neutral.add(s.emotion)
                self._measure.calm(s)
            else:
                self._measure.interrupt_flow()
            self._remember(s)
            return []
        self._measure.interrupt_flow()
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
            return self._finish()
        if settled(self._event, s.t_ms, self._above_ms, self._measure.flow_busy_ms, self.cfg.max_micro_ms):
            return self._settle()
        if self._new_rest(s):
            found = expressions_in(self._pre_roll(), self._event, self.cfg, self._judge)
            self._reject("too_long", self._event)
            log.debug("excursion held %.0f ms with no emotion to show for it: a new rest (%d expressions in it)",
                      HOLD_CHECK_MS, len(found))
            self._rebase(s.t_ms, last_moments(self._event, s.t_ms))
            self._abandon()
            self._history.clear()
            return found
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
            return done
        return []

    def _new_rest(self, s: Sample) -> bool:
        """Asked once, HOLD_CHECK_MS into an excursion (rest.new_rest)."""
        if self._hold_checked or s.t_ms - self._event[0].t_ms < HOLD_CHECK_MS:
            return False
        self._hold_checked = True
        return new_rest(self._event, s.t_ms, self._cnn_neutral.value)

    def _settle(self) -> list[Closed]:
        """Close the excursion against its new rest level, and take that rest as the neutral."""
        now = self._event[-1].t_ms
        rest, floor, emit = settled_at(self._event, now, self._peak)
        self._reject("settled", self._event, record=not emit)
        done = self._finish(floor) if emit else []
        if not emit:
            self._drop()
        self._rebase(now, rest)
        return done

    def _reject(self, reason: str, frames: list[Sample] | Rejection, record: bool = True) -> None:
        """Count a reason; `record`: the frames were dropped (kept for explaining misses), or their record
        when the frames are gone (an event the talking hold drops)."""
        self.rejected[reason] += 1
        if record and frames:
            self.rejections.append(frames if isinstance(frames, Rejection) else rejection(reason, frames, self.cfg.threshold))

    def _rebase(self, now: float, rest: list[Sample]) -> None:
        """These samples are the neutral from now on."""
        kept = [x for x in rest if x.f is not None]
        self._baseline.rebase(now, [x.f for x in kept], [x.angles for x in kept])

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

    def _finish(self, floor: float = 0.0, cap: bool = False) -> list[Closed]:
        """Close the current event: boundaries, rejections, emotion, record; and whether talking may
        explain it (the mouth opened and articulation carries its apex). Also a micro expression
        another expression masked before the excursion fell back (masked.py), in time order.

        `floor`: the score level the excursion settled at (its offset is measured above it);
        `cap`: the excursion is still under way (too long, or the stream ended): it ends at its last frame."""
        pre = self._pre_roll()
        frames = pre + self._event
        n_pre = len(pre)
        self._drop()
        ext = measure(frames, n_pre, self.cfg, floor)
        if cap:
            ext = dataclasses.replace(ext, off=len(frames) - 1, kind="macro",
                                      duration_ms=float(frames[-1].t_ms - frames[ext.on].t_ms))
        main = self._judge(frames, ext, cap)
        masked = masked_before(frames, n_pre, ext, self.cfg)
        first = self._judge(frames[:masked[0]], masked[1], reported=main is None) if masked is not None else None
        for r in beside(frames, n_pre if masked is None else ext.on, ext.on, ext.off, self.cfg.threshold):
            self._reject("merged", r)
        return [c for c in (first, main) if c is not None]

    def _judge(self, frames: list[Sample], ext: Extent, cap: bool = False, reported: bool = True) -> Closed | None:
        """The event record of the candidate `ext` in `frames`, or None when it is no expression (judge.py).
        `reported`: it moves the point later pre-rolls start from (not a masked one before an event already out)."""
        no = verdict(frames, ext, self.cfg, self._rhythm, self._cnn_neutral.value, cap)
        if no is not None:
            if no.reason:
                self._reject(no.reason, frames[ext.on:ext.off + 1], record=no.record)
                log.debug("candidate at frame %d rejected: %s", frames[ext.apex].index, no.reason)
            return None
        if reported:
            self._reported_ms = frames[ext.off].t_ms
        ev = describe(frames, ext, self._fx, self._baseline.sigma[len(AU_NAMES):], self._cnn_neutral.value,
                      self._utc, self.versions, self.video)
        ev.clock_synced = self._times.synced
        return closed(ev, frames, ext, self.cfg.threshold)

    # -- helpers ------------------------------------------------------------

    def _face_lost(self, t_ms: float) -> list[Event]:
        if self._lost_since is None:
            self._lost_since = t_ms
        if self._event:
            self.rejected["face_lost"] += 1
            self._abandon()
        self._history.clear()
        if t_ms - self._lost_since >= LOST_RESET_MS and self._measure.aligner is not None:
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

    def _pre_roll(self) -> list[Sample]:
        """The frames before the excursion; never reaching back into an event already reported (one
        expression, one event)."""
        return [x for x in self._history if x.t_ms > self._reported_ms]

    def _newest_first(self) -> Iterator[Sample]:
        """The samples remembered (the open excursion, then the pre-roll), newest first."""
        return itertools.chain(reversed(self._event), reversed(self._history))

    def _remember(self, s: Sample) -> None:
        self._history.append(s)
        while self._history and self._history[0].t_ms < s.t_ms - PREROLL_MS:
            self._history.popleft()

    def _utc(self, t_ns: int) -> str:
        return utc_iso(self._times.utc(t_ns))
