"""One annotated real episode as expression flow, and its time-compressed replay as a micro expression.

The episode's intensity profile is the projection of each frame's expression
field on the apex field. A held expression (a smile kept for seconds) is not
compressed into a plateau-shaped micro expression: the hold (frames after the
apex still at >= HOLD of it) is cut, and the replay is rise (onset -> apex)
then fall (hold end -> offset), each resampled to its share of the new length.
An episode that never returns to neutral within its annotation (offset still at
> OPEN of the apex, e.g. a clip that ends smiling) falls back along its own
rise, reversed. The person's blinks inside the episode are bridged, not
compressed with it (edge.synth.blinks): a blink's frames take the field
interpolated between the open-eyed frames either side, and an episode that
starts in a blink is measured from its first open-eyed frame. Unless the
annotators named eye closure among its action units (43, 45, 46): then the
closure is the expression's own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from edge.events.annotations import Annotation
from edge.synth.flowwarp import ExpressionFlow, iod, projection

MOUTH_OPENING = frozenset({"25", "26", "27"})  # lips part, jaw drops, mouth stretches open
EYE_CLOSURE = frozenset({"43", "45", "46"})  # eyes closed, blink, wink
HOLD = 0.85  # share of the apex that still counts as holding it
OPEN = 0.3  # an offset above this share of the apex has not returned to neutral


def _units(row: Annotation) -> set[str]:
    """The episode's action unit numbers, sides and intensities dropped ("R12C" -> "12")."""
    return {a.removeprefix("AU").lstrip("RL").rstrip("ABCDE") for a in row.aus.split("+") if a}


def mouth_opens(row: Annotation) -> bool:
    """The episode parts the lips or drops the jaw: a neutral frame has no mouth interior (teeth, cavity) to show."""
    return bool(MOUTH_OPENING & _units(row))


def closes_eyes(row: Annotation) -> bool:
    """The annotators named eye closure as part of the expression: its closures are not blinks to bridge."""
    return bool(EYE_CLOSURE & _units(row))


@dataclass
class Episode:
    """Measured expression fields of one annotated episode, keyed by source frame."""

    row: Annotation
    flow: ExpressionFlow
    fields: dict[int, np.ndarray]
    profile: dict[int, float]
    hold_end: int  # last frame of the apex hold
    mirrored: bool  # the fall replays the rise backwards
    apex_px: float  # mean expression displacement over the face at the apex, pixels
    apex_max_px: float
    unit_px: float  # inter-ocular distance of the reference
    reference: int  # the source frame the fields are measured from (the onset, or its first open-eyed frame)
    bridged: tuple[int, ...]  # source frames inside a blink, their fields interpolated across it

    def at(self, s: float) -> np.ndarray:
        """The field at fractional source frame s (linear between neighbours: fields are linear in intensity)."""
        lo = self.row.onset
        s = min(max(s, lo), self.row.offset)
        k = int(math.floor(s))
        w = s - k
        if w < 1e-6 or k + 1 > self.row.offset:
            return self.fields[k]
        return (1.0 - w) * self.fields[k] + w * self.fields[k + 1]


def measure_episode(row: Annotation, frames: dict[int, np.ndarray], landmarks: list[np.ndarray | None],
                    blinks: np.ndarray | None = None) -> Episode:
    """Expression fields of every frame of the episode, relative to its onset frame (its own neutral).

    `blinks`: per clip frame, whether it is a blink's (edge.synth.blinks.blink_frames); None keeps them."""
    blink = (lambda k: bool(blinks[k])) if blinks is not None else (lambda k: False)
    ref = row.onset
    while ref < row.apex and blink(ref):
        ref += 1
    if ref == row.apex:  # closed until the apex: nothing open-eyed to measure the rise from
        ref = row.onset
    ref_lm = landmarks[ref]
    assert ref_lm is not None
    flow = ExpressionFlow(frames[ref], ref_lm)
    fields: dict[int, np.ndarray] = {}
    bridged = {k for k in range(ref + 1, row.offset + 1) if blink(k)}
    for k in range(ref, row.offset + 1):
        if k not in bridged:
            lm = landmarks[k]
            assert lm is not None
            fields[k] = flow.field(frames[k], lm)
    fields[ref] = np.zeros_like(fields[ref])  # the reference itself: exactly neutral
    for k in range(row.onset, ref):
        fields[k] = fields[ref]
    _bridge(fields, bridged)
    apex = fields[row.apex]
    profile = {k: projection(f, apex) for k, f in fields.items()}
    hold_end = row.apex
    while hold_end + 1 <= row.offset and profile[hold_end + 1] >= HOLD:
        hold_end += 1
    mirrored = row.apex == row.offset or profile[row.offset] > OPEN or hold_end == row.offset
    mag = np.linalg.norm(apex, axis=2)
    inside = flow.mask > 0.5
    return Episode(row, flow, fields, profile, hold_end, mirrored, float(mag[inside].mean()), float(mag.max()), iod(ref_lm),
                   ref, tuple(sorted(bridged)))


def _bridge(fields: dict[int, np.ndarray], bridged: set[int]) -> None:
    """Each bridged frame's field, linear between the measured frames either side (the last one held
    when a blink runs to the episode's end)."""
    for k in sorted(bridged):
        lo = max(j for j in fields if j < k and j not in bridged)
        later = [j for j in fields if j > k and j not in bridged]
        if not later:
            fields[k] = fields[lo]
            continue
        hi = min(later)
        w = np.float32((k - lo) / (hi - lo))
        fields[k] = (1 - w) * fields[lo] + w * fields[hi]


@dataclass
class EpisodePlan:
    """One inserted event: output frames onset..offset and, per frame, the source time and scale."""

    episode: int  # index of the source row
    onset: int
    apex: int
    offset: int
    intensity: float
    source_times: list[float] = field(default_factory=list)  # per output frame onset..offset

    def field(self, t: int, ep: Episode) -> np.ndarray:
        return (np.float32(self.intensity) * ep.at(self.source_times[t - self.onset])).astype(np.float32)

    def describe(self, ep: Episode, row: Annotation, fps: float) -> dict:
        ms = 1000.0 / fps
        return {
            "onset": self.onset, "apex": self.apex, "offset": self.offset,
            "onset_ms": round(self.onset * ms, 2), "duration_ms": round((self.offset - self.onset) * ms, 2),
            "type": "micro", "emotion": row.emotion, "aus": row.aus, "intensity": round(self.intensity, 3),
            "mouth_opens": mouth_opens(row),
            "source": {"episode": self.episode, "onset": row.onset, "apex": row.apex, "offset": row.offset,
                       "type": row.type, "hold_cut_frames": ep.hold_end - row.apex, "fall": "rise reversed" if ep.mirrored else "own",
                       "reference": ep.reference, "blink_bridged": list(ep.bridged)},
            "apex_displacement_px": round(self.intensity * ep.apex_px, 3),
            "apex_displacement_iod": round(self.intensity * ep.apex_px / ep.unit_px, 4),
            "apex_max_displacement_px": round(self.intensity * ep.apex_max_px, 3),
            "source_times": [round(s, 3) for s in self.source_times],
        }


def plan_event(ep: Episode, episode: int, onset: int, length: int, intensity: float) -> EpisodePlan:
    """Resample the episode's profile into `length` frames (onset..offset inclusive) from output frame `onset`."""
    row = ep.row
    span = length - 1
    rise = max(1, row.apex - row.onset)
    fall = rise if ep.mirrored else max(1, row.offset - ep.hold_end)
    ja = min(max(1, round(span * rise / (rise + fall))), span - 1)
    times: list[float] = []
    for j in range(length):
        if j <= ja:
            s = row.onset + (row.apex - row.onset) * j / ja
        else:
            u = (j - ja) / (span - ja)
            s = row.apex - (row.apex - row.onset) * u if ep.mirrored else ep.hold_end + (row.offset - ep.hold_end) * u
        times.append(float(s))
    return EpisodePlan(episode, onset, onset + ja, onset + span, intensity, times)
