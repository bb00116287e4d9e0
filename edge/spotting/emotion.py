"""The emotion an event leaks: EMFACS prototypes on the apex AUs, fused with the CNN.

Prototypes (Ekman, Friesen & Hager, FACS Investigator's Guide 2002, EMFACS
table; as used by CASME II / SAMM annotations):
happiness 6+12; sadness 1+4+15; surprise 1+2+5+26; fear 1+2+4+5+7+20+26;
anger 4+5+7+23; disgust 9+15+16 or 9+10; contempt R12+R14 or L12+L14 (one-sided).

A prototype's score is how fully its AUs are active at the apex, lowered by the
share of activity it does not explain (so surprise does not win a fear apex that
also shows 4+7+20). The emotion CNN (FER2013 classes) adds its rise from the
person's neutral output; it has no contempt class, so contempt rests on the
AUs alone.
"""

from __future__ import annotations

import numpy as np

from edge.events.record import EMOTIONS
from edge.spotting.features import AU_NAMES

# FER2013 output order of the emotion CNN -> our emotion names (neutral dropped).
CNN_CLASSES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
CNN_TO_EMOTION: dict[int, str] = {0: "anger", 1: "disgust", 2: "fear", 3: "happiness", 4: "sadness", 5: "surprise"}

# Each emotion: alternative AU sets (any one may match). AU12/AU14 bilateral
# entries are resolved per side in score_prototypes.
PROTOTYPES: dict[str, tuple[tuple[str, ...], ...]] = {
    "anger": (("AU4", "AU5", "AU7", "AU23"),),
    "contempt": (("R12", "R14"), ("L12", "L14")),
    "disgust": (("AU9", "AU15", "AU16"), ("AU9", "AU10")),
    "fear": (("AU1", "AU2", "AU4", "AU5", "AU7", "AU20", "AU26"),),
    "happiness": (("AU6", "AU12"),),
    "sadness": (("AU1", "AU4", "AU15"),),
    "surprise": (("AU1", "AU2", "AU5", "AU26"),),
}

# Activity that says nothing about the emotion: parted lips follow any jaw drop,
# and eye closure is a blink.
NEUTRAL_AUS = frozenset({"AU25", "AU45"})
SPILL_WEIGHT = 0.8
CNN_WEIGHT = 0.3


def _bilateral(intensity: np.ndarray) -> dict[str, float]:
    """Named intensities plus bilateral AU12/AU14 (the weaker side: both must move)."""
    named = {n: float(intensity[i]) for i, n in enumerate(AU_NAMES)}
    named["AU12"] = min(named["R12"], named["L12"])
    named["AU14"] = min(named["R14"], named["L14"])
    # Jaw drop and lips part come together (FACS 25+26); a landmark model sees
    # the opening better than where it comes from.
    named["AU26"] = max(named["AU26"], named["AU25"])
    return named


def _one_sided(named: dict[str, float], side: str) -> dict[str, float]:
    """Contempt's AUs on one side, net of the same movement on the other side."""
    other = "L" if side == "R" else "R"
    out = dict(named)
    for au in ("12", "14"):
        out[side + au] = max(0.0, named[side + au] - named[other + au])
    return out


def score_prototypes(intensity: np.ndarray) -> tuple[dict[str, float], tuple[str, ...]]:
    """Seven prototype scores (0..1) from apex AU intensities, and the AUs behind the best."""
    named = _bilateral(intensity)
    total = sum(v * v for k, v in named.items() if k not in NEUTRAL_AUS and k not in ("AU12", "AU14"))
    scores: dict[str, float] = {}
    used: dict[str, tuple[str, ...]] = {}
    for emotion, alternatives in PROTOTYPES.items():
        best, best_set = 0.0, alternatives[0]
        for aus in alternatives:
            vals = _one_sided(named, aus[0][0]) if emotion == "contempt" else named
            coverage = float(np.mean([vals[a] for a in aus]))
            explained = set(aus)
            if "AU12" in explained:
                explained |= {"R12", "L12"}
            if "AU26" in explained:  # a jaw drop pulls the lower lip down with it
                explained |= {"AU16", "AU17"}
            spill = sum(v * v for k, v in named.items()
                        if k not in explained and k not in NEUTRAL_AUS and k not in ("AU12", "AU14"))
            share = spill / total if total > 1e-12 else 0.0
            s = coverage * (1.0 - SPILL_WEIGHT * share)
            if s > best:
                best, best_set = s, aus
        scores[emotion] = max(0.0, best)
        used[emotion] = best_set
    top = max(scores, key=scores.__getitem__)
    return scores, used[top]


def cnn_change(apex: np.ndarray | None, neutral: np.ndarray | None) -> dict[str, float]:
    """Rise of each CNN class over the person's neutral output, by our emotion names."""
    out = {e: 0.0 for e in EMOTIONS}
    if apex is None or neutral is None:
        return out
    delta = np.asarray(apex, dtype=np.float64) - np.asarray(neutral, dtype=np.float64)
    for i, name in CNN_TO_EMOTION.items():
        out[name] = max(0.0, float(delta[i]))
    return out


def classify(
    intensity: np.ndarray,
    cnn_apex: np.ndarray | None = None,
    cnn_neutral: np.ndarray | None = None,
    cnn_weight: float = CNN_WEIGHT,
) -> tuple[str, float, dict[str, float], dict[str, float]]:
    """Emotion, confidence, the seven normalised scores and the AUs involved with intensities."""
    proto, _ = score_prototypes(intensity)
    cnn = cnn_change(cnn_apex, cnn_neutral)
    fused = {e: proto[e] + cnn_weight * cnn[e] for e in EMOTIONS}
    total = sum(fused.values())
    if total <= 1e-9:
        return "", 0.0, {e: 0.0 for e in EMOTIONS}, {}
    scores = {e: round(v / total, 4) for e, v in fused.items()}
    emotion = max(fused, key=fused.__getitem__)
    ranked = sorted(fused.values(), reverse=True)
    # Confidence: how clearly the winner beats the runner-up, tempered by how
    # strongly its prototype is present at all.
    margin = (ranked[0] - ranked[1]) / ranked[0] if ranked[0] > 0 else 0.0
    strength = min(1.0, ranked[0] / 0.5)
    confidence = round(float(np.clip(0.5 * margin + 0.5 * strength * scores[emotion] ** 0.5, 0.0, 1.0)), 3)
    aus = involved_aus(intensity, emotion)
    return emotion, confidence, scores, aus


def involved_aus(intensity: np.ndarray, emotion: str, min_intensity: float = 0.1) -> dict[str, float]:
    """Active AUs with intensities, FACS-labelled: bilateral 12/14 as AU12/AU14, one-sided as R/L."""
    named = _bilateral(intensity)
    out: dict[str, float] = {}
    for name in AU_NAMES:
        if name in NEUTRAL_AUS and name != "AU25":
            continue
        if name[0] in "RL":
            continue
        v = named[name]
        if v >= min_intensity:
            out[name] = round(v, 3)
    for au in ("12", "14"):
        r, l = named["R" + au], named["L" + au]
        if min(r, l) >= min_intensity and emotion != "contempt":
            out["AU" + au] = round((r + l) / 2, 3)
        elif max(r, l) >= min_intensity:
            side = "R" if r >= l else "L"
            out[side + au] = round(max(r, l), 3)
    return dict(sorted(out.items(), key=lambda kv: _au_number(kv[0])))


def _au_number(label: str) -> int:
    digits = "".join(c for c in label if c.isdigit())
    return int(digits) if digits else 0


class CnnNeutral:
    """The emotion CNN's output on this person's neutral face: an exponential mean over calm frames
    (faces differ in what the CNN calls neutral; an event is scored by its change from this)."""

    def __init__(self, alpha: float = 0.05) -> None:
        self.alpha = alpha
        self.value: np.ndarray | None = None

    def add(self, softmax: np.ndarray | None) -> None:
        if softmax is None:
            return
        e = np.asarray(softmax, dtype=np.float64)
        if self.value is None:
            self.value = e.copy()
        else:
            self.value += self.alpha * (e - self.value)
