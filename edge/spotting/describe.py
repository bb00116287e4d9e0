"""What a finished expression was: its intensities, its emotion and its event record.

The spotter has decided an excursion is an expression (candidate.py) and where it
starts, peaks and ends; this turns its frames into the record that is stored and
published. Pure functions on the spotter's per-frame samples.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from edge.events.record import EMOTIONS, Event
from edge.spotting.candidate import Extent, Sample
from edge.spotting.emotion import CNN_WEIGHT, classify, involved_aus
from edge.spotting.episodes import CHANNEL_EMOTION, Episode
from edge.spotting.extent import is_micro
from edge.spotting.features import FeatureExtractor
from edge.spotting.flashes import Flash
from edge.spotting.flow_aus import flow_intensities

MACRO_CNN_WEIGHT = 1.0  # the emotion CNN's weight beside the AU prototypes on a macro event
NEAR_PEAK = 0.8  # apex intensities average the frames scoring at least this share of the apex's score


def describe(frames: list[Sample], ext: Extent, fx: FeatureExtractor, flow_sigma: np.ndarray,
             cnn_neutral: np.ndarray | None, utc: Callable[[int], str], versions: dict[str, str],
             video: str) -> Event:
    """The event record of the expression `ext` found in `frames`.

    `flow_sigma`: the flow estimates' noise (their baseline sigma); `cnn_neutral`: the emotion
    CNN's output on this person's neutral face; `utc`: a frame's monotonic ns -> ISO UTC.
    """
    on, off, top = ext.on, ext.off, frames[ext.apex]
    # Apex intensities: mean displacement over the frames near the peak (less noise).
    near = [x for x in frames[on:off + 1] if x.score >= NEAR_PEAK * top.score] or [top]
    intensity = fx.intensities(np.mean([x.disp for x in near], axis=0))
    if all(x.fdisp is not None for x in near):
        # Cleaner than the landmarks' (which drag neighbours along), where there is flow.
        intensity = flow_intensities(np.mean([x.fdisp for x in near], axis=0), flow_sigma)
    cnn = emotion_near(frames[on:off + 1], top.t_ms)
    # Over a held expression the CNN sees a steady face and its change from this person's neutral
    # is telling, where the AU intensities of a real face saturate: it weighs more on macro events.
    weight = MACRO_CNN_WEIGHT if ext.kind == "macro" else CNN_WEIGHT
    emotion, confidence, scores, aus = classify(intensity, cnn, cnn_neutral, weight)
    return Event(
        onset_frame=frames[on].index, apex_frame=top.index, offset_frame=frames[off].index,
        onset_utc=utc(frames[on].t_ns), apex_utc=utc(top.t_ns), offset_utc=utc(frames[off].t_ns),
        duration_ms=round(ext.duration_ms, 1), type=ext.kind, emotion=emotion, confidence=confidence,
        scores=scores, aus=aus, head_pose=head_pose(top.pose), versions=dict(versions), video=video,
    )


def describe_episode(ep: Episode, fx: FeatureExtractor, utc: Callable[[int], str], versions: dict[str, str],
                     video: str) -> Event:
    """The event record of an emotion episode (episodes.py): a macro expression named by the CNN channel
    that rose; its scores are the channels' rises at the apex, its AUs the landmarks' near the apex."""
    first, top, last = ep.onset, ep.samples[ep.apex], ep.offset
    rise = np.clip(ep.rises[ep.apex], 0.0, None)
    total = float(rise.sum()) or 1.0
    scores = {e: 0.0 for e in EMOTIONS}
    for i, name in enumerate(CHANNEL_EMOTION):
        scores[name] = round(float(rise[i]) / total, 4)
    intensity = intensity_near(ep.samples, top, fx)
    return Event(
        onset_frame=first.index, apex_frame=top.index, offset_frame=last.index,
        onset_utc=utc(first.t_ns), apex_utc=utc(top.t_ns), offset_utc=utc(last.t_ns),
        duration_ms=round(last.t_ms - first.t_ms, 1), type="macro", emotion=ep.emotion,
        confidence=round(min(1.0, ep.peak), 3), scores=scores, aus=involved_aus(intensity, ep.emotion),
        head_pose=head_pose(top.pose), versions=dict(versions), video=video,
    )


def describe_flash(flash: Flash, fx: FeatureExtractor, utc: Callable[[int], str], versions: dict[str, str],
                   video: str, max_micro_ms: float) -> Event:
    """The event record of a flash (flashes.py): named by its channel (brows: surprise, lip corners:
    happiness), micro or macro by its duration (to within a frame, as the spotter's); its confidence
    grows with the rise, reaching 1 at twice the rise that starts a flash."""
    first, top, last = flash.onset, flash.samples[flash.apex], flash.offset
    intensity = intensity_near(flash.samples, top, fx)
    duration = last.t_ms - first.t_ms
    frame_ms = float(np.median(np.diff([x.t_ms for x in flash.samples]))) if len(flash.samples) > 1 else 0.0
    emotion = flash.emotion
    scores = {e: 0.0 for e in EMOTIONS} | {emotion: 1.0}
    return Event(
        onset_frame=first.index, apex_frame=top.index, offset_frame=last.index,
        onset_utc=utc(first.t_ns), apex_utc=utc(top.t_ns), offset_utc=utc(last.t_ns),
        duration_ms=round(duration, 1), type="micro" if is_micro(duration, frame_ms, max_micro_ms) else "macro",
        emotion=emotion, confidence=round(min(1.0, flash.peak / (2 * flash.channel.start)), 3), scores=scores,
        aus=involved_aus(intensity, emotion), head_pose=head_pose(top.pose), versions=dict(versions),
        video=video,
    )


def intensity_near(samples: list[Sample], top: Sample, fx: FeatureExtractor) -> np.ndarray:
    """AU intensities at an apex the landmarks found: the mean displacement within 100 ms of it (less noise)."""
    near = [x for x in samples if abs(x.t_ms - top.t_ms) <= 100.0] or [top]
    return fx.intensities(np.mean([x.disp for x in near], axis=0))


def emotion_near(span: list[Sample], t_ms: float) -> np.ndarray | None:
    """The emotion CNN output closest in time to `t_ms` within the event (None if it never ran)."""
    with_cnn = [x for x in span if x.emotion is not None]
    if not with_cnn:
        return None
    return min(with_cnn, key=lambda x: abs(x.t_ms - t_ms)).emotion


def head_pose(pose: Any) -> dict[str, float]:
    """The event record's head pose from a HeadPose, a (yaw, pitch, roll) tuple or nothing."""
    if pose is None:
        return {"yaw": 0.0, "pitch": 0.0, "roll": 0.0}
    if hasattr(pose, "yaw"):
        yaw, pitch, roll = float(pose.yaw), float(pose.pitch), float(pose.roll)
    else:
        yaw, pitch, roll = (float(v) for v in pose)
    return {"yaw": round(yaw, 2), "pitch": round(pitch, 2), "roll": round(roll, 2)}
