"""The per-frame gates: talking from repeated mouth openings, blinks from eye closure."""

from __future__ import annotations

import numpy as np

from edge.spotting.features import AU_INDEX, AU_NAMES
from edge.spotting.gates import Gates

SIGMA = np.full(len(AU_NAMES), 0.001)


def feed(gates: Gates, fps: float, seconds: float, disp_at) -> list[bool]:
    out = []
    for i in range(int(fps * seconds)):
        t = i * 1000.0 / fps
        gates.update(t, disp_at(t), 0.0, SIGMA)
        out.append(gates.talking)
    return out


def test_syllables_are_talking() -> None:
    def disp(t: float) -> np.ndarray:
        d = np.zeros(len(AU_NAMES))
        d[AU_INDEX["AU26"]] = 0.02 * max(0.0, np.sin(2 * np.pi * 4.0 * t / 1000.0))  # 4 openings a second
        return d

    talking = feed(Gates(), 120.0, 2.0, disp)
    assert any(talking[120:]), "four openings a second must read as speech"


def test_a_mouth_resting_slightly_apart_is_not_talking() -> None:
    # After speech the jaw rests a little lower than the old neutral: the opening hovers
    # around the noise level for good. That is one position, not syllables.
    rng = np.random.default_rng(1)

    def disp(t: float) -> np.ndarray:
        d = rng.normal(0.0, 0.001, len(AU_NAMES))
        d[AU_INDEX["AU26"]] += 0.004  # four sigmas above the old neutral
        return d

    talking = feed(Gates(), 120.0, 4.0, disp)
    assert sum(talking) < 0.02 * len(talking), f"talking on {sum(talking)} of {len(talking)} frames"


def test_lips_parting_in_a_smile_are_not_syllables() -> None:
    rng = np.random.default_rng(2)

    def disp(t: float) -> np.ndarray:
        d = rng.normal(0.0, 0.0005, len(AU_NAMES))
        smile = 0.04 * max(0.0, np.sin(2 * np.pi * 3.0 * t / 1000.0))  # corners pulled hard, three times a second
        d[AU_INDEX["R12"]] += smile
        d[AU_INDEX["L12"]] += smile
        d[AU_INDEX["AU25"]] += 0.25 * smile  # the lips part a little with it
        return d

    assert not any(feed(Gates(), 120.0, 2.0, disp))
