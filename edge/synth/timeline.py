"""Scheduling: when each expression and each distractor happens, frame by frame.

Everything is decided here from one seeded generator, before any pixel is drawn,
so the manifest, the annotation CSV and the video agree by construction.

Expressions rise from onset to apex (smoothstep), macro ones hold, then fall to
the offset; the onset and offset frames themselves are neutral (intensity 0) and
are the first and last frames of the event, inclusive. Durations are
``(offset - onset) / fps``. Distractors live in the gaps between expressions
(with a margin) so the ground truth stays unambiguous: blinks (AU45), talking
(AU25/AU26 oscillating at a syllable rate), quick nods and turns, lighting
flicker; head drift and sensor noise run throughout.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from edge.errors import InputError
from edge.events.record import EMOTIONS
from edge.synth.actions import component_keys, parse_au
from edge.synth.emotions import expression_aus

POSE_FIELDS = ("tx", "ty", "roll", "scale", "yaw", "pitch")  # px, px, deg, ratio-1, deg, deg
# Slow head drift amplitudes (roll, yaw, pitch), degrees. "natural" is a seated talker's: the drift's standard
# deviation comes to about 4 deg of yaw, 2.5 of pitch and 1.3 of roll, with peaks near +-10 deg of yaw.
DRIFT_DEG = {"default": (1.5, 3.0, 2.0), "natural": (3.0, 10.0, 6.0)}


@dataclass(frozen=True)
class TimelineSpec:
    fps: float = 120.0
    duration_s: float = 60.0
    micro: int = 12
    macro: int = 4
    emotions: tuple[str, ...] = EMOTIONS  # cycled through, shuffled, for the expressions
    micro_ms: tuple[float, float] = (100.0, 480.0)
    macro_ms: tuple[float, float] = (600.0, 3500.0)
    micro_intensity: tuple[float, float] = (0.35, 0.85)
    macro_intensity: tuple[float, float] = (0.6, 1.0)
    partial_micro: float = 0.35  # share of micro expressions with some non-core AUs left out
    lead_in_s: float = 3.0  # neutral start: a spotter's baseline warms up here
    min_gap_s: float = 1.0  # neutral time between expressions at least
    distractors: bool = True
    blink_per_min: float = 15.0
    talking_per_min: float = 3.0
    nods_per_min: float = 3.0
    flicker_per_min: float = 1.5
    drift_px: float = 0.03  # head drift amplitude, as a fraction of the face size
    face_size_px: float = 220.0
    head_motion: str = "default"  # default | natural (DRIFT_DEG)


@dataclass
class ScheduledExpression:
    onset: int
    apex: int
    offset: int
    type: str
    emotion: str
    aus: dict[str, float]  # label -> apex intensity
    hold: int = 0  # frames at apex (macro)

    @property
    def label(self) -> str:
        return "+".join(self.aus)


@dataclass
class Interval:
    """A distractor or a stretch of interest, frames inclusive."""

    kind: str  # blink | talking | nod | turn | flicker
    start: int
    end: int
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Timeline:
    fps: float
    n_frames: int
    expressions: list[ScheduledExpression]
    distractors: list[Interval]
    components: tuple[str, ...]
    intensity: np.ndarray  # (n_frames, n_components) float32
    pose: np.ndarray  # (n_frames, 6) POSE_FIELDS
    gain: np.ndarray  # (n_frames,) lighting gain

    def weights(self, i: int) -> dict[str, float]:
        """Component -> intensity at frame i, only those that move."""
        row = self.intensity[i]
        return {self.components[j]: float(row[j]) for j in np.flatnonzero(row > 1e-4)}

    def to_manifest(self) -> dict[str, Any]:
        ms = 1000.0 / self.fps
        return {
            "fps": self.fps,
            "frames": self.n_frames,
            "expressions": [
                asdict(e) | {"onset_ms": round(e.onset * ms, 2), "apex_ms": round(e.apex * ms, 2),
                             "offset_ms": round(e.offset * ms, 2), "duration_ms": round((e.offset - e.onset) * ms, 2)}
                for e in self.expressions
            ],
            "distractors": [asdict(d) for d in self.distractors],
        }


def envelope(n: int, rise: int, hold: int, fall: int) -> np.ndarray:
    """Intensity over onset..offset inclusive: 0 at both ends, 1 at the apex (and its hold)."""
    out = np.zeros(n, dtype=np.float64)
    t = np.arange(n)
    up = t <= rise
    out[up] = _smooth(t[up] / max(rise, 1))
    top = (t > rise) & (t <= rise + hold)
    out[top] = 1.0
    down = t > rise + hold
    out[down] = _smooth(1 - (t[down] - rise - hold) / max(fall, 1))
    out[0] = 0.0
    out[-1] = 0.0
    return out


def _smooth(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0, 1)
    return x * x * (3 - 2 * x)


def _event_frames(rng: np.random.Generator, fps: float, lo_ms: float, hi_ms: float, macro: bool) -> tuple[int, int, int]:
    """(rise, hold, fall) frames for one expression."""
    # Frames from onset to offset; never longer than hi_ms, never under two (onset, apex, offset differ).
    total = max(2, min(round(rng.uniform(lo_ms, hi_ms) * fps / 1000.0), int(hi_ms * fps / 1000.0)))
    hold = round(total * rng.uniform(0.15, 0.35)) if macro else 0
    rise = max(1, round((total - hold) * rng.uniform(0.3, 0.5)))
    fall = max(1, total - hold - rise)
    return rise, hold, fall


def schedule(spec: TimelineSpec, rng: np.random.Generator) -> Timeline:
    """Place expressions and distractors; raises InputError if they cannot fit."""
    fps = spec.fps
    n = round(spec.duration_s * fps)
    if n < 2:
        raise InputError(f"duration {spec.duration_s}s at {fps} fps is under two frames")
    for e in spec.emotions:
        if e not in EMOTIONS:
            raise InputError(f"unknown emotion {e!r}; choose from {', '.join(EMOTIONS)}")
    kinds = ["micro"] * spec.micro + ["macro"] * spec.macro
    rng.shuffle(kinds)
    shapes = [_event_frames(rng, fps, *(spec.micro_ms if k == "micro" else spec.macro_ms), k == "macro") for k in kinds]
    lengths = [r + h + f + 1 for r, h, f in shapes]
    lead, gap = int(spec.lead_in_s * fps), int(spec.min_gap_s * fps)
    free = n - lead - gap - sum(lengths) - gap * len(kinds)
    if kinds and free < 0:
        need = (lead + gap + sum(lengths) + gap * len(kinds)) / fps
        raise InputError(f"{spec.micro} micro and {spec.macro} macro expressions need at least {need:.1f}s, got {spec.duration_s}s")
    slack = rng.dirichlet(np.ones(len(kinds) + 1)) * max(free, 0) if kinds else np.array([])
    # Micro and macro expressions each cycle through every emotion, so 7 micro ones cover all seven.
    cycles = {k: iter(_emotion_sequence(spec, kinds.count(k), rng)) for k in ("micro", "macro")}
    emotions = [next(cycles[k]) for k in kinds]
    expressions: list[ScheduledExpression] = []
    t = lead
    for i, (kind, (rise, hold, fall)) in enumerate(zip(kinds, shapes)):
        t += int(slack[i]) + (gap if i else 0)
        lo, hi = spec.micro_intensity if kind == "micro" else spec.macro_intensity
        partial = kind == "micro" and rng.random() < spec.partial_micro
        aus = expression_aus(emotions[i], float(rng.uniform(lo, hi)), rng, partial)
        onset = t
        apex = onset + rise + hold // 2
        offset = onset + rise + hold + fall
        expressions.append(ScheduledExpression(onset, apex, offset, kind, emotions[i], aus, hold))
        t = offset + 1
    comps = component_keys()
    col = {k: j for j, k in enumerate(comps)}
    inten = np.zeros((n, len(comps)), dtype=np.float32)
    for e in expressions:
        rise = e.apex - e.hold // 2 - e.onset
        env = envelope(e.offset - e.onset + 1, rise, e.hold, e.offset - e.onset - rise - e.hold)
        for label, a in e.aus.items():
            for k in parse_au(label):
                inten[e.onset : e.offset + 1, col[k]] += (a * env).astype(np.float32)
    pose = np.zeros((n, len(POSE_FIELDS)), dtype=np.float32)
    gain = np.ones(n, dtype=np.float32)
    distractors: list[Interval] = []
    if spec.distractors:
        busy = np.zeros(n, dtype=bool)
        margin = int(0.3 * fps)
        for e in expressions:
            busy[max(0, e.onset - margin) : e.offset + margin + 1] = True
        distractors += _talking(spec, rng, n, busy, inten, col)
        distractors += _blinks(spec, rng, n, busy, inten, col)
        distractors += _nods(spec, rng, n, busy, pose)
        distractors += _flicker(spec, rng, n, gain)
        _drift(spec, rng, n, pose, gain)
        distractors.sort(key=lambda d: d.start)
    return Timeline(fps, n, expressions, distractors, comps, inten, pose, gain)


def _emotion_sequence(spec: TimelineSpec, k: int, rng: np.random.Generator) -> list[str]:
    """Cycle through the emotions so every one appears before any repeats."""
    out: list[str] = []
    while len(out) < k:
        block = list(spec.emotions)
        rng.shuffle(block)
        out += block
    return out[:k]


def _place(rng: np.random.Generator, busy: np.ndarray, length: int, tries: int = 40) -> int | None:
    n = len(busy)
    if length >= n:
        return None
    for _ in range(tries):
        s = int(rng.integers(0, n - length))
        if not busy[s : s + length].any():
            return s
    return None


def _count(rate_per_min: float, n: int, fps: float, rng: np.random.Generator) -> int:
    """How many of a distractor: the expected number, rounded (a short clip still gets what its rate promises)."""
    return round(rate_per_min * n / fps / 60.0)


def _blinks(spec, rng, n, busy, inten, col) -> list[Interval]:
    out = []
    for _ in range(_count(spec.blink_per_min, n, spec.fps, rng)):
        dur_ms = float(rng.uniform(100, 400))
        length = max(3, round(dur_ms * spec.fps / 1000))
        s = _place(rng, busy, length + 2)
        if s is None:
            continue
        amp = float(rng.uniform(0.8, 1.0))
        rise = max(1, int(length * 0.35))
        env = envelope(length, rise, max(0, int(length * 0.1)), length - 1 - rise - max(0, int(length * 0.1)))
        for k in ("R45", "L45"):
            inten[s : s + length, col[k]] += (amp * env).astype(np.float32)
        busy[s : s + length] = True
        out.append(Interval("blink", s, s + length - 1, {"duration_ms": round(length * 1000 / spec.fps, 1), "amplitude": round(amp, 3)}))
    return out


def _talking(spec, rng, n, busy, inten, col) -> list[Interval]:
    out = []
    for _ in range(_count(spec.talking_per_min, n, spec.fps, rng)):
        length = int(rng.uniform(1.5, 4.0) * spec.fps)
        s = _place(rng, busy, length)
        if s is None:
            continue
        rate = float(rng.uniform(3.0, 5.0))  # syllables per second
        amp = float(rng.uniform(0.15, 0.4))
        t = np.arange(length) / spec.fps
        jitter = np.cumsum(rng.normal(0, 0.15, length)) / spec.fps
        phase = 2 * math.pi * rate * t + 2 * math.pi * jitter
        open_ = 0.5 - 0.5 * np.cos(phase)
        fade = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.15)
        inten[s : s + length, col["26"]] += (amp * open_ * fade).astype(np.float32)
        inten[s : s + length, col["25"]] += (0.6 * amp * open_ * fade).astype(np.float32)
        busy[s : s + length] = True
        out.append(Interval("talking", s, s + length - 1, {"syllables_per_s": round(rate, 2), "amplitude": round(amp, 3), "aus": "25+26"}))
    return out


def _nods(spec, rng, n, busy, pose) -> list[Interval]:
    out = []
    for _ in range(_count(spec.nods_per_min, n, spec.fps, rng)):
        length = max(3, int(rng.uniform(0.3, 0.8) * spec.fps))
        s = _place(rng, busy, length)
        if s is None:
            continue
        kind = "nod" if rng.random() < 0.5 else "turn"
        deg = float(rng.uniform(4, 10) if kind == "nod" else rng.uniform(6, 15)) * (1 if rng.random() < 0.5 else -1)
        shape = np.sin(np.linspace(0, math.pi, length)) ** 2
        j = POSE_FIELDS.index("pitch" if kind == "nod" else "yaw")
        pose[s : s + length, j] += (deg * shape).astype(np.float32)
        shift = POSE_FIELDS.index("ty" if kind == "nod" else "tx")
        pose[s : s + length, shift] += (deg * 0.004 * spec.face_size_px * shape).astype(np.float32)
        busy[s : s + length] = True
        out.append(Interval(kind, s, s + length - 1, {"degrees": round(deg, 2)}))
    return out


def _flicker(spec, rng, n, gain) -> list[Interval]:
    out = []
    for _ in range(_count(spec.flicker_per_min, n, spec.fps, rng)):
        length = int(rng.uniform(1.0, 3.0) * spec.fps)
        if length >= n:
            continue
        s = int(rng.integers(0, n - length))
        freq = float(rng.uniform(3.0, min(15.0, spec.fps / 2.5)))
        amp = float(rng.uniform(0.03, 0.08))
        t = np.arange(length) / spec.fps
        gain[s : s + length] *= (1 + amp * np.sin(2 * math.pi * freq * t)).astype(np.float32)
        out.append(Interval("flicker", s, s + length - 1, {"hz": round(freq, 2), "amplitude": round(amp, 3)}))
    return out


def _drift(spec, rng, n, pose, gain) -> None:
    """Slow head drift and slow lighting drift: a few low-frequency sinusoids, always on."""
    t = np.arange(n) / spec.fps
    amps = {"tx": spec.drift_px * spec.face_size_px, "ty": spec.drift_px * spec.face_size_px * 0.6,
            "scale": 0.015} | dict(zip(("roll", "yaw", "pitch"), DRIFT_DEG[spec.head_motion]))
    for j, name in enumerate(POSE_FIELDS):
        wave = np.zeros(n)
        for _ in range(3):
            period = rng.uniform(6.0, 25.0)
            wave += rng.uniform(0.3, 1.0) * np.sin(2 * math.pi * t / period + rng.uniform(0, 2 * math.pi))
        pose[:, j] += (amps[name] * wave / 2.0).astype(np.float32)
    slow = np.sin(2 * math.pi * t / rng.uniform(15, 40) + rng.uniform(0, 2 * math.pi))
    gain *= (1 + 0.04 * slow).astype(np.float32)
