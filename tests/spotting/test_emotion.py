"""Emotion of an event: EMFACS prototype scores on apex AU intensities, fused with the CNN."""

from __future__ import annotations

import numpy as np
import pytest

from edge.events.record import EMOTIONS
from edge.spotting.emotion import classify, cnn_change, involved_aus, score_prototypes
from edge.spotting.features import AU_INDEX, AU_NAMES

PROTOS = {
    "happiness": {"AU6": 0.7, "R12": 0.8, "L12": 0.8},
    "sadness": {"AU1": 0.6, "AU4": 0.6, "AU15": 0.7},
    "surprise": {"AU1": 0.7, "AU2": 0.7, "AU5": 0.6, "AU26": 0.7},
    "fear": {"AU1": 0.6, "AU2": 0.6, "AU4": 0.6, "AU5": 0.6, "AU7": 0.5, "AU20": 0.6, "AU26": 0.5},
    "anger": {"AU4": 0.7, "AU5": 0.5, "AU7": 0.6, "AU23": 0.7},
    "disgust": {"AU9": 0.7, "AU15": 0.5, "AU16": 0.5},
    "contempt": {"L12": 0.6, "L14": 0.6},
}


def intensity(aus: dict[str, float]) -> np.ndarray:
    v = np.zeros(len(AU_NAMES))
    for k, a in aus.items():
        v[AU_INDEX[k]] = a
    return v


@pytest.mark.parametrize("emotion", sorted(PROTOS))
def test_each_prototype_yields_its_emotion(emotion) -> None:
    name, conf, scores, aus = classify(intensity(PROTOS[emotion]))
    assert name == emotion, scores
    assert set(scores) == set(EMOTIONS)
    assert sum(scores.values()) == pytest.approx(1.0, abs=1e-3)
    assert 0 < conf <= 1


def test_disgust_also_from_its_second_prototype() -> None:
    assert classify(intensity({"AU9": 0.7, "AU10": 0.6}))[0] == "disgust"


def test_contempt_needs_one_side_and_happiness_both() -> None:
    assert classify(intensity({"R12": 0.7, "R14": 0.6}))[0] == "contempt"
    assert classify(intensity({"R12": 0.7, "L12": 0.7, "AU6": 0.5}))[0] == "happiness"
    aus = classify(intensity({"R12": 0.7, "R14": 0.6}))[3]
    assert set(aus) == {"R12", "R14"}


def test_fear_beats_surprise_when_its_extra_aus_are_there() -> None:
    surprise = PROTOS["surprise"]
    assert classify(intensity(surprise))[0] == "surprise"
    assert classify(intensity(surprise | {"AU4": 0.6, "AU7": 0.5, "AU20": 0.6}))[0] == "fear"


def test_partial_expression_keeps_its_signature() -> None:
    assert classify(intensity({"AU1": 0.4, "AU2": 0.4}))[0] == "surprise"
    assert classify(intensity({"AU4": 0.5, "AU23": 0.5}))[0] == "anger"


def test_cnn_change_tilts_an_ambiguous_apex() -> None:
    ambiguous = intensity({"AU15": 0.5})  # in both sadness and disgust prototypes
    neutral = np.array([0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.7])
    sad = np.array([0.05, 0.05, 0.05, 0.05, 0.6, 0.05, 0.15])
    disgusted = np.array([0.05, 0.6, 0.05, 0.05, 0.05, 0.05, 0.15])
    assert classify(ambiguous, sad, neutral)[0] == "sadness"
    assert classify(ambiguous, disgusted, neutral)[0] == "disgust"


def test_cnn_has_no_contempt_and_only_rises_count() -> None:
    change = cnn_change(np.array([0.1, 0.0, 0.0, 0.6, 0.0, 0.0, 0.3]), np.array([0.2, 0.0, 0.0, 0.1, 0.0, 0.0, 0.7]))
    assert change["contempt"] == 0.0
    assert change["happiness"] == pytest.approx(0.5)
    assert change["anger"] == 0.0  # fell: no evidence either way
    assert cnn_change(None, None) == {e: 0.0 for e in EMOTIONS}


def test_no_activity_gives_no_emotion() -> None:
    name, conf, scores, aus = classify(np.zeros(len(AU_NAMES)))
    assert name == "" and conf == 0.0 and aus == {}


def test_involved_aus_are_facs_labelled_with_intensities() -> None:
    aus = involved_aus(intensity({"AU6": 0.5, "R12": 0.7, "L12": 0.6, "AU45": 0.9}), "happiness")
    assert aus == {"AU6": 0.5, "AU12": 0.65}
    scores, used = score_prototypes(intensity(PROTOS["anger"]))
    assert set(used) == {"AU4", "AU5", "AU7", "AU23"}
