"""EMFACS prototypes."""

from __future__ import annotations

import numpy as np

from edge.events.record import EMOTIONS
from edge.synth.actions import parse_au
from edge.synth.emotions import PROTOTYPES, expression_aus


def test_the_seven_prototypes():
    assert set(PROTOTYPES) == set(EMOTIONS)
    aus = {e: [set(p.aus) for p in PROTOTYPES[e]] for e in EMOTIONS}
    assert aus["happiness"] == [{"6", "12"}]
    assert aus["sadness"] == [{"1", "4", "15"}]
    assert aus["surprise"] == [{"1", "2", "5", "26"}]
    assert aus["fear"] == [{"1", "2", "4", "5", "7", "20", "26"}]
    assert aus["anger"] == [{"4", "5", "7", "23"}]
    assert aus["disgust"] == [{"9", "15", "16"}, {"9", "10"}]
    assert aus["contempt"] == [{"R12", "R14"}, {"L12", "L14"}]
    for protos in PROTOTYPES.values():
        for p in protos:
            assert set(p.core) <= set(p.aus)
            for au in p.aus:
                parse_au(au)  # every AU is renderable


def test_partial_expressions_keep_their_core():
    rng = np.random.default_rng(0)
    for emotion, protos in PROTOTYPES.items():
        for _ in range(20):
            aus = expression_aus(emotion, 0.5, rng, partial=True)
            assert any(set(p.core) <= set(aus) <= set(p.aus) for p in protos)
            assert all(0.375 <= a <= 0.5 for a in aus.values())
