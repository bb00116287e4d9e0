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


def test_a_blink_masks_the_eyes_not_the_mouth_and_brows() -> None:
    from edge.spotting.features import AU_INDEX
    from edge.spotting.gates import EYE_REGION, Gates

    g = Gates()
    sigma = np.full(len(AU_NAMES), 0.001)
    disp = np.zeros(len(AU_NAMES))
    disp[AU_INDEX["AU45"]] = 0.02  # the lids close
    disp[AU_INDEX["AU5"]] = -0.015  # from above
    div = g.update(0.0, disp, 0.0, sigma)
    assert g.blinking
    assert all(np.isinf(div[AU_INDEX[a]]) for a in EYE_REGION)
    for au in ("R12", "L12", "AU1", "AU4", "AU15"):
        assert np.isfinite(div[AU_INDEX[au]]) and div[AU_INDEX[au]] > 1.0, au


def test_talking_masks_articulation_but_not_a_smiles_corner_pull() -> None:
    from edge.spotting.features import AU_INDEX
    from edge.spotting.gates import Gates

    g = Gates()
    sigma = np.full(len(AU_NAMES), 0.001)
    div = None
    for i in range(40):  # syllables: the lips part and close five times a second at 30 fps
        disp = np.zeros(len(AU_NAMES))
        disp[AU_INDEX["AU25"]] = 0.03 if i % 6 < 3 else 0.0
        div = g.update(i * 33.3, disp, 0.0, sigma)
    assert g.talking
    assert np.isinf(div[AU_INDEX["AU25"]]) and np.isinf(div[AU_INDEX["AU17"]])
    assert np.isfinite(div[AU_INDEX["R12"]]) and np.isfinite(div[AU_INDEX["L12"]]) and np.isfinite(div[AU_INDEX["AU6"]])


def test_speech_explains_an_apex_of_lips_or_one_corner_not_a_smile() -> None:
    from types import SimpleNamespace

    from edge.spotting.features import AU_INDEX
    from edge.spotting.gates import articulated

    def apex(**z: float) -> SimpleNamespace:
        v = np.zeros(len(AU_NAMES))
        for k, x in z.items():
            v[AU_INDEX[k]] = x
        return SimpleNamespace(z=v)

    assert not articulated(apex(R12=20.0, L12=18.0, AU6=9.0))  # a smile
    assert articulated(apex(R12=20.0, L12=3.0))  # one corner: speech as often as contempt
    assert articulated(apex(AU23=15.0, R12=4.0))  # lips narrowed
    assert not articulated(apex(AU1=12.0, AU2=10.0))  # brows


def test_a_blink_that_drags_the_models_mouth_along_is_still_a_blink() -> None:
    # On some faces the landmark model lifts the upper lip and the lip corners as the lids close
    # (BLINK_COUPLING). Read raw, that mouth looks busy and the blink went unflagged: the astronaut
    # footage reported five blinks as "sadness" micro expressions.
    from edge.spotting.features import BLINK_COUPLING, FeatureExtractor

    rng = np.random.default_rng(3)
    raw = rng.normal(0.0, 0.0005, len(AU_NAMES))  # half a sigma of noise on every estimate
    raw[AU_INDEX["AU45"]] = 0.02
    for au, slope in BLINK_COUPLING.items():  # the upper lid comes down (AU5), the mouth is dragged along
        raw[AU_INDEX[au]] += slope * 0.02
    decoupled = FeatureExtractor().decouple(raw)
    sigma = SIGMA.copy()
    sigma[AU_INDEX["AU45"]] = 0.002  # eyelids are noisier than lips in the landmark model

    read_raw = Gates()
    read_raw.update(0.0, raw, 0.0, sigma)
    assert not read_raw.blinking, "the raw mouth moves more than the eye closes: not quiet"
    g = Gates()
    g.update(0.0, raw, 0.0, sigma, decoupled)
    assert g.blinking

    # A mouth that moves on its own while the eye narrows (a laugh; fear's lid tightening with the
    # lips stretched) is no blink, leak taken out or not: what is left must be clearly small.
    for au, move in (("L12", 0.05), ("AU20", 0.007), ("AU15", 0.007)):  # 7 sigmas, the closure 10
        busy = raw.copy()
        busy[AU_INDEX[au]] += move
        g = Gates()
        g.update(0.0, busy, 0.0, sigma, FeatureExtractor().decouple(busy))
        assert not g.blinking, au


def test_the_lids_count_as_down_through_their_return_and_no_longer() -> None:
    from edge.spotting.gates import BLINK_HOLD_MS, BLINK_RETURN_MS

    def run(closure_at, mouth_at=lambda t: 0.0) -> list[tuple[float, bool, bool]]:
        g, out = Gates(), []
        for i in range(120):  # 1 s at 120 fps
            t = i * 1000.0 / 120
            d = np.zeros(len(AU_NAMES))
            d[AU_INDEX["AU45"]] = closure_at(t)
            d[AU_INDEX["AU5"]] = -0.8 * closure_at(t)  # the upper lid comes down
            d[AU_INDEX["L14"]] = mouth_at(t)
            g.update(t, d, 0.0, SIGMA)
            out.append((t, g.blinking, g.lids_down))
        return out

    # The lids close for 100 ms and reopen over 100 ms; the mouth leak rises as they reopen.
    def blink(t):
        return 0.02 if 100 <= t < 200 else max(0.0, 0.02 * (1 - (t - 200) / 100)) if t >= 200 else 0.0

    frames = run(blink, lambda t: 0.04 if t >= 180 else 0.0)
    flag_end = max(t for t, b, _ in frames if b)
    down_end = max(t for t, _, d in frames if d)
    assert flag_end < 200 + BLINK_HOLD_MS, "the busy mouth ends the blink flag"
    # Down while the closure is over 30 % of the blink level (0.007 IOD) and falling: to 289 ms, + the hold.
    assert 289 + BLINK_HOLD_MS - 10 <= down_end <= 290 + BLINK_HOLD_MS
    # Lids closing again after the blink are a new move, not its return.
    frames = run(lambda t: blink(t) if t < 280 else 0.012, lambda t: 0.04 if t >= 180 else 0.0)
    assert max(t for t, _, d in frames if d) <= 280 + BLINK_HOLD_MS
    # Eyes an expression keeps narrowed are down for at most BLINK_RETURN_MS after the blink.
    frames = run(lambda t: 0.02 if 100 <= t < 200 else (0.006 if t >= 200 else 0.0), lambda t: 0.04 if t >= 180 else 0.0)
    flag_end = max(t for t, b, _ in frames if b)
    assert max(t for t, _, d in frames if d) <= flag_end + BLINK_RETURN_MS + BLINK_HOLD_MS + 10
