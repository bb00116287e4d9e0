"""Exposure under mains lighting: whole flicker periods, or frames locked to the flicker.

Lamps on 50 Hz mains flicker at 100 Hz (60 Hz: 120 Hz). A frame exposed for a
whole number of flicker periods collects the same light whatever the phase; so
does every frame when the frame period is itself a whole number of flicker
periods (100 fps under 50 Hz, 120 fps under 60 Hz). Otherwise brightness beats
from frame to frame, which the spotter's optical flow reads as facial motion.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Exposure:
    exposure_us: int
    gain: float
    note: str = ""  # what was changed, or why flicker cannot be avoided; empty when nothing to say
    beats: bool = False  # True: flicker will show in the frames (the note says how to avoid it)


def flicker_period_us(mains_hz: int) -> float:
    return 1e6 / (2 * mains_hz)


def locked(fps: float, mains_hz: int) -> bool:
    """True when every frame starts at the same phase of the light (a whole number of periods per frame)."""
    ratio = 2 * mains_hz / fps
    return round(ratio) >= 1 and abs(ratio - round(ratio)) < 1e-3


def beat_hz(fps: float, mains_hz: int) -> float:
    """The frequency at which the sampled brightness rises and falls (the flicker aliased by the frame rate)."""
    flicker = 2 * mains_hz
    return abs(flicker - round(flicker / fps) * fps)


def locked_fps_below(fps: float, mains_hz: int) -> float:
    """The fastest frame rate at or under `fps` that is locked to the flicker."""
    k = max(1, math.ceil(2 * mains_hz / fps - 1e-9))
    return 2 * mains_hz / k


def flicker_safe(exposure_us: int, gain: float, fps: float, mains_hz: int,
                 gain_range: tuple[float, float] = (1.0, math.inf)) -> Exposure:
    """A fixed exposure rounded to whole flicker periods where the frame period allows, the gain
    scaled so the image keeps its brightness; unchanged (with a note) where it cannot help."""
    if mains_hz <= 0 or exposure_us <= 0 or locked(fps, mains_hz):
        return Exposure(exposure_us, gain)
    period = flicker_period_us(mains_hz)
    frame_us = 1e6 / fps
    fits = math.floor(frame_us / period + 1e-9)
    if fits < 1:
        return Exposure(exposure_us, gain, beats=True, note=(
            f"{fps:g} fps under {mains_hz} Hz light: a {frame_us:.0f} us frame cannot hold one {period:.0f} us "
            f"flicker period, so brightness beats at {beat_hz(fps, mains_hz):.0f} Hz; source.fps = "
            f"{locked_fps_below(fps, mains_hz):g} locks the frames to the flicker (or light the room without it)"))
    n = min(fits, max(1, round(exposure_us / period)))
    new_us = int(round(n * period))
    new_gain = min(max(gain * exposure_us / new_us, gain_range[0]), gain_range[1])
    return Exposure(new_us, new_gain, note=(
        f"exposure {exposure_us} us -> {new_us} us ({n} x the {period:.0f} us flicker period of {mains_hz} Hz "
        f"light), analogue gain {gain:g} -> {new_gain:.2f}"))
