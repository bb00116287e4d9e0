"""The last word on a measured candidate (judge.verdict) and the record the talking hold gets (judge.closed)."""

from __future__ import annotations

import numpy as np
import pytest

from edge.config import SpottingConfig
from edge.events.record import Event
from edge.spotting.candidate import Extent, Sample
from edge.spotting.features import AU_INDEX, AU_NAMES
from edge.spotting.gates import RHYTHM_BEATS, RHYTHM_MS, LipRhythm
from edge.spotting.judge import Verdict, closed, verdict

FRAME_MS = 1000.0 / 120.0


def event(on: int, apex: int, off: int) -> Event:
    t = "2026-12-07T12:00:00.000Z"
    return Event(on, apex, off, t, t, t, (off - on) * FRAME_MS, "micro", "", 0.0, {}, {}, {}, {"software": "t"})


def candidate(start_ms: float, duration_ms: float, carrier: str = "AU4", peak_z: float = 20.0,
              talking: bool = False) -> tuple[list[Sample], Extent]:
    """A quiet face with one bump carried by `carrier`: its frames and its extent, apex in the middle."""
    n = int(round(duration_ms / FRAME_MS)) + 1
    frames = []
    for i in range(n):
        t = start_ms + i * FRAME_MS
        z = np.zeros(len(AU_NAMES))
        z[AU_INDEX[carrier]] = peak_z * np.sin(np.pi * i / (n - 1))
        frames.append(Sample(t, int(t * 1e6), i, float(z.max()), np.zeros(len(AU_NAMES)), np.eye(3), 0.0, False,
                             None, None, t, talking=talking, mouth_open=talking, z=z))
    kind = "micro" if duration_ms <= SpottingConfig().max_micro_ms else "macro"
    return frames, Extent(0, n // 2, n - 1, duration_ms, kind, peak_z, FRAME_MS)


def test_a_quiet_face_s_bump_is_an_expression_and_its_record_says_so() -> None:
    cfg = SpottingConfig()
    frames, ext = candidate(0.0, 300.0, peak_z=2.5 * cfg.threshold)
    assert verdict(frames, ext, cfg, LipRhythm(), None) is None
    ev = event(0, ext.apex, ext.off)
    rec, t_on, t_off, speech, peak = closed(ev, frames, ext, cfg.threshold)
    assert rec is ev
    assert (t_on, t_off) == (0.0, pytest.approx(ext.off * FRAME_MS))
    assert speech is False  # a brow lowering with the mouth shut: nothing for the talking hold
    assert peak == pytest.approx(2.5, abs=0.01)


def test_speech_could_explain_a_lip_carried_event_with_the_mouth_open_and_nothing_else() -> None:
    cfg = SpottingConfig()
    lips, ext = candidate(0.0, 300.0, carrier="AU10", talking=True)
    assert closed(event(0, ext.apex, ext.off), lips, ext, cfg.threshold)[3] is True
    brows, ext = candidate(0.0, 300.0, carrier="AU1", talking=True)
    assert closed(event(0, ext.apex, ext.off), brows, ext, cfg.threshold)[3] is False  # the brows are not speech


def test_too_short_or_too_long_is_dropped_without_keeping_its_frames() -> None:
    cfg = SpottingConfig()
    frames, ext = candidate(0.0, cfg.min_micro_ms - 2.0 * FRAME_MS)
    assert verdict(frames, ext, cfg, LipRhythm(), None) == Verdict("", record=False)
    frames, ext = candidate(0.0, cfg.max_macro_ms + 1000.0)
    assert verdict(frames, ext, cfg, LipRhythm(), None) == Verdict("too_long", record=False)
    # Cut short while still under way (the 20 s cap, the end of the stream): reported as far as it went.
    assert verdict(frames, ext, cfg, LipRhythm(), None, cap=True) is None


def test_a_rule_of_the_candidate_itself_names_the_reason_and_keeps_the_frames() -> None:
    cfg = SpottingConfig()
    frames, ext = candidate(0.0, 300.0)
    frames[0].talking = True  # it began while the face was talking
    assert verdict(frames, ext, cfg, LipRhythm(), None) == Verdict("talking")


def test_lip_carried_micro_candidates_at_a_syllable_s_pace_are_speech() -> None:
    """Expressions do not come three a second; a lip pull that does is a syllable, even one that
    would stand alone. Every lip-carried micro candidate counts towards the rhythm, kept or not."""
    cfg, rhythm = SpottingConfig(), LipRhythm()
    gap = RHYTHM_MS / (RHYTHM_BEATS + 1)
    fates = []
    for k in range(RHYTHM_BEATS + 1):
        frames, ext = candidate(k * gap, 200.0, carrier="AU10")
        fates.append(verdict(frames, ext, cfg, rhythm, None))
    assert fates[:RHYTHM_BEATS] == [None] * RHYTHM_BEATS
    assert fates[-1] == Verdict("talking")
    # Brows are no syllable: the same pace carried by them is three expressions.
    rhythm = LipRhythm()
    brows = [verdict(*candidate(k * gap, 200.0, carrier="AU1"), cfg, rhythm, None) for k in range(RHYTHM_BEATS + 1)]
    assert brows == [None] * (RHYTHM_BEATS + 1)
