"""Nuisances of the unit's own camera: mains flicker through a rolling shutter, and signal-dependent sensor noise.

Mains flicker: a lamp on 50/60 Hz mains pulses at 100/120 Hz. The sensor
integrates it over each row's exposure window, and a rolling shutter starts each
row a little later than the one above, so frame i, row y sees

    1 + depth * sinc(f * T) * cos(2 pi f (i / fps + y * readout / H + T / 2) + phase)

(f the light's frequency, T the exposure). Sampled at the frame rate it beats:
the mean brightness oscillates at |f - round(f / fps) * fps| (20 Hz at 120 fps
under 50 Hz mains, 10 Hz at 30 fps, none at 120 fps under 60 Hz mains where only a
still band pattern is left), and an exposure of a whole number of light periods
(10 ms under 50 Hz) cancels it, as on a real camera.

Sensor noise: shot noise grows with the signal (variance ~ gain x level) on top
of a read-noise floor; the ISP's demosaicing and denoising correlate it over a
pixel or two, so the noise is blurred slightly and renormalised.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np


SENSOR_READ_SIGMA = 2.0  # grey levels: the floor in the dark
SENSOR_SHOT_GAIN = 0.12  # variance per grey level: sigma 4.4 at mid grey, 5.9 at 255 (a small sensor at 120 fps indoors)


@dataclass(frozen=True)
class Flicker:
    """Mains flicker as the camera sees it."""

    mains_hz: float  # 50 or 60
    fps: float
    height: int
    depth: float = 0.2  # modulation depth of the light (LED drivers and fluorescent tubes: 0.1-0.4)
    exposure_s: float = 0.0  # 0 -> 70 % of the frame period
    readout_s: float = 0.0  # top-to-bottom rolling-shutter readout; 0 -> 60 % of the frame period
    phase: float = 0.0

    @property
    def light_hz(self) -> float:
        return 2.0 * self.mains_hz

    @property
    def exposure(self) -> float:
        return self.exposure_s or 0.7 / self.fps

    @property
    def readout(self) -> float:
        return self.readout_s or 0.6 / self.fps

    @property
    def beat_hz(self) -> float:
        """The frequency the mean brightness oscillates at, after aliasing by the frame rate."""
        f = self.light_hz
        return abs(f - round(f / self.fps) * self.fps)

    @property
    def amplitude(self) -> float:
        """Brightness modulation left after the exposure's averaging."""
        return self.depth * abs(float(np.sinc(self.light_hz * self.exposure)))

    def rows(self, i: int) -> np.ndarray:
        """(height,) gain of each row of frame i."""
        f = self.light_hz
        t = i / self.fps + np.arange(self.height, dtype=np.float64) * (self.readout / self.height) + self.exposure / 2
        g = 1.0 + self.depth * float(np.sinc(f * self.exposure)) * np.cos(2 * math.pi * f * t + self.phase)
        return g.astype(np.float32)


def apply_row_gain(frame: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The frame with each row scaled by its gain (uint8, saturating)."""
    out = frame.astype(np.float32) * rows[:, None, None]
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


class SensorNoise:
    """Shot plus read noise from a bank of precomputed unit-noise frames, replayed in a seeded order."""

    def __init__(self, rng: np.random.Generator, shape: tuple[int, ...], read_sigma: float = SENSOR_READ_SIGMA,
                 shot_gain: float = SENSOR_SHOT_GAIN, bank: int = 24) -> None:
        self.read2 = read_sigma * read_sigma
        self.gain = shot_gain
        self.bank = []
        for _ in range(bank):
            n = cv2.GaussianBlur(rng.standard_normal(shape).astype(np.float32), (0, 0), sigmaX=0.6)
            self.bank.append(n / max(float(n.std()), 1e-6))
        self.order = rng

    def sigma(self, level: float) -> float:
        """Noise standard deviation at a grey level (the model's own, for reports and tests)."""
        return math.sqrt(self.read2 + self.gain * level)

    def apply(self, frame: np.ndarray) -> np.ndarray:
        n = self.bank[int(self.order.integers(len(self.bank)))]
        f = frame.astype(np.float32)
        return np.clip(f + n * np.sqrt(self.read2 + self.gain * f) + 0.5, 0, 255).astype(np.uint8)
