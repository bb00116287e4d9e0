"""The seven emotions as EMFACS action-unit prototypes.

Prototypes follow the EMFACS predictions as tabulated by Ekman & Friesen
(*EMFACS-7: Emotional Facial Action Coding System*, unpublished manual, UCSF,
1983) and Ekman, Friesen & Hager (*FACS Investigator's Guide*, 2002, Table 10-1),
with the contempt prototype from Ekman & Friesen, "A new pan-cultural facial
expression of emotion", *Motivation and Emotion* 10(2):159-168, 1986 (a
one-sided lip-corner tightening and raising, R12+R14 / L12+L14). These are the
same prototypes the micro-expression datasets use for their objective classes
(CASME II: Yan et al., PLoS ONE 9(1):e86041, 2014; SAMM: Davison et al., IEEE
T-AFFC 9(1):116-129, 2018):

* happiness 6+12
* sadness 1+4+15
* surprise 1+2+5+26 (5B at most in the guide; 26 often 25+26)
* fear 1+2+4+5+7+20+26
* anger 4+5+7+23
* disgust 9+15+16, or 9+10 (the guide lists both)
* contempt R12+R14 or L12+L14 (unilateral)

``core`` marks the AUs a partial (low-intensity, incomplete) micro expression
keeps, so a partial expression still carries its emotion's signature.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Prototype:
    emotion: str
    aus: tuple[str, ...]  # labels as in the annotation CSV: '6', '12', 'R12'
    core: tuple[str, ...]


PROTOTYPES: dict[str, tuple[Prototype, ...]] = {
    "happiness": (Prototype("happiness", ("6", "12"), ("12",)),),
    "sadness": (Prototype("sadness", ("1", "4", "15"), ("1", "15")),),
    "surprise": (Prototype("surprise", ("1", "2", "5", "26"), ("1", "2")),),
    "fear": (Prototype("fear", ("1", "2", "4", "5", "7", "20", "26"), ("1", "4", "20")),),
    "anger": (Prototype("anger", ("4", "5", "7", "23"), ("4", "23")),),
    "disgust": (
        Prototype("disgust", ("9", "15", "16"), ("9",)),
        Prototype("disgust", ("9", "10"), ("9", "10")),
    ),
    "contempt": (
        Prototype("contempt", ("R12", "R14"), ("R12", "R14")),
        Prototype("contempt", ("L12", "L14"), ("L12", "L14")),
    ),
}


def expression_aus(
    emotion: str, intensity: float, rng: np.random.Generator, partial: bool = False
) -> dict[str, float]:
    """AU label -> intensity for one expression of `emotion`; `partial` drops some non-core AUs."""
    variants = PROTOTYPES[emotion]
    proto = variants[int(rng.integers(len(variants)))]
    aus: dict[str, float] = {}
    for au in proto.aus:
        if partial and au not in proto.core and rng.random() < 0.5:
            continue
        aus[au] = round(float(intensity * rng.uniform(0.75, 1.0)), 3)
    return aus
