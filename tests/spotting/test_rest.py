"""Where an open excursion is going: back to neutral, a new rest, or an expression held."""

from __future__ import annotations

import numpy as np

from edge.spotting.candidate import Sample
from edge.spotting.rest import HOLD_LOOK_MS, emotion_rise, emotion_shown, held, levelled, new_rest

NEUTRAL = np.array([0.02, 0.02, 0.02, 0.02, 0.02, 0.02, 0.88])


def sample(t_ms: float, score: float, emotion: np.ndarray | None = None) -> Sample:
    return Sample(t_ms, int(t_ms * 1e6), int(t_ms / 33.3), score, np.zeros(20), np.eye(3), 0.0, False, None,
                  emotion, t_ms)


def cnn(label: int, p: float) -> np.ndarray:
    out = NEUTRAL.copy()
    out[label] += p
    out[6] -= p
    return out


def test_the_cnn_rise_is_measured_against_the_persons_neutral() -> None:
    happy = [sample(t, 20.0, cnn(3, 0.4)) for t in range(0, 1000, 33)]
    assert abs(emotion_rise(happy, NEUTRAL) - 0.4) < 1e-9
    assert emotion_shown(happy, NEUTRAL)
    # The same output is no rise for a person whose neutral face the CNN already calls that happy.
    assert not emotion_shown(happy, cnn(3, 0.38))
    assert emotion_rise([sample(0.0, 20.0)], NEUTRAL) is None and emotion_rise(happy, None) is None


def test_a_long_excursion_is_a_new_rest_unless_the_cnn_shows_an_emotion_in_its_last_moments() -> None:
    now = 4000.0
    early_smile_then_posture = [sample(t, 20.0, cnn(3, 0.5) if t < now - 2 * HOLD_LOOK_MS else NEUTRAL)
                                for t in np.arange(0.0, now, 33.3)]
    assert new_rest(early_smile_then_posture, now, NEUTRAL)
    smile_held = [sample(t, 20.0, cnn(3, 0.5)) for t in np.arange(0.0, now, 33.3)]
    assert not new_rest(smile_held, now, NEUTRAL)
    assert new_rest([sample(t, 20.0) for t in np.arange(0.0, now, 33.3)], now, NEUTRAL)  # the CNN never ran


def test_held_needs_more_than_a_micro_expressions_length_mostly_over_the_threshold() -> None:
    assert held([sample(t, 12.0) for t in np.arange(0.0, 900.0, 33.3)], 7.0, 500.0)
    assert not held([sample(t, 12.0) for t in np.arange(0.0, 400.0, 33.3)], 7.0, 500.0)  # too short
    flicker = [sample(t, 12.0 if i % 3 == 0 else 3.0) for i, t in enumerate(np.arange(0.0, 900.0, 33.3))]
    assert not held(flicker, 7.0, 500.0)


def test_levelled_when_the_score_stops_falling() -> None:
    falling = [sample(t, 30.0 - t / 20.0) for t in np.arange(0.0, 400.0, 8.3)]
    flat = [sample(t, 5.0 + 0.1 * np.sin(t)) for t in np.arange(0.0, 400.0, 8.3)]
    assert not levelled(falling, 400.0)
    assert levelled(flat, 400.0)
