"""Scheduling: durations, coverage of the seven emotions, distractors kept out of expressions."""

from __future__ import annotations

import numpy as np
import pytest

from edge.errors import InputError
from edge.events.record import EMOTIONS
from edge.synth.actions import parse_au
from edge.synth.emotions import PROTOTYPES
from edge.synth.timeline import TimelineSpec, envelope, schedule


@pytest.mark.parametrize("fps", [30.0, 60.0, 90.0, 120.0, 200.0])
def test_durations_and_order(fps: float):
    tl = schedule(TimelineSpec(fps=fps, duration_s=60, micro=12, macro=4), np.random.default_rng(7))
    assert tl.n_frames == int(60 * fps)
    assert sum(e.type == "micro" for e in tl.expressions) == 12
    assert sum(e.type == "macro" for e in tl.expressions) == 4
    last = -1
    for e in tl.expressions:
        assert last < e.onset < e.apex < e.offset < tl.n_frames
        ms = (e.offset - e.onset) * 1000 / fps
        if e.type == "micro":
            assert 40 <= ms <= 500, ms
        else:
            assert 500 <= ms <= 4000, ms
        assert e.onset >= 3 * fps  # the lead-in stays neutral
        last = e.offset


@pytest.mark.parametrize("seed", range(8))
def test_default_set_covers_all_seven_emotions_with_micro_expressions(seed: int):
    tl = schedule(TimelineSpec(fps=120, duration_s=60, micro=12, macro=4), np.random.default_rng(seed))
    micro = [e for e in tl.expressions if e.type == "micro"]
    assert {e.emotion for e in micro} == set(EMOTIONS)
    counts = [sum(e.emotion == x for e in micro) for x in EMOTIONS]
    assert max(counts) - min(counts) <= 1  # balanced
    macro = [e.emotion for e in tl.expressions if e.type == "macro"]
    assert len(set(macro)) == 4


def test_expression_aus_follow_the_prototypes():
    tl = schedule(TimelineSpec(fps=60, duration_s=120, micro=30, macro=6), np.random.default_rng(3))
    for e in tl.expressions:
        protos = PROTOTYPES[e.emotion]
        assert any(set(e.aus) <= set(p.aus) and set(p.core) <= set(e.aus) for p in protos), (e.emotion, e.aus)
        lo, hi = (0.35, 0.85) if e.type == "micro" else (0.6, 1.0)
        assert all(0.75 * lo - 1e-9 <= a <= hi for a in e.aus.values())
    assert any(len(e.aus) < max(len(p.aus) for p in PROTOTYPES[e.emotion]) for e in tl.expressions if e.type == "micro")


def test_intensity_is_zero_at_onset_and_offset_and_peaks_at_apex():
    tl = schedule(TimelineSpec(fps=120, duration_s=30, micro=5, macro=2, distractors=False), np.random.default_rng(2))
    for e in tl.expressions:
        col = tl.components.index(parse_au(next(iter(e.aus)))[0])
        track = tl.intensity[:, col]
        assert track[e.onset] == 0 and track[e.offset] == 0
        assert track[e.onset + 1] > 0 and track[e.offset - 1] > 0
        assert track[e.apex] == pytest.approx(track[e.onset : e.offset + 1].max())
    # Without distractors nothing moves outside expressions.
    busy = np.zeros(tl.n_frames, bool)
    for e in tl.expressions:
        busy[e.onset : e.offset + 1] = True
    assert not tl.intensity[~busy].any()
    assert not tl.pose.any() and np.all(tl.gain == 1.0) and not tl.distractors


def test_distractors_stay_out_of_expressions():
    tl = schedule(TimelineSpec(fps=60, duration_s=90, micro=10, macro=3, blink_per_min=30, talking_per_min=6, nods_per_min=6),
                  np.random.default_rng(5))
    kinds = {d.kind for d in tl.distractors}
    assert {"blink", "talking"} <= kinds and kinds & {"nod", "turn"}
    margin = int(0.3 * 60)
    for d in tl.distractors:
        if d.kind == "flicker":
            continue  # lighting may change at any time
        for e in tl.expressions:
            assert d.end < e.onset - margin or d.start > e.offset + margin, (d, e)
    blinks = [d for d in tl.distractors if d.kind == "blink"]
    assert all(100 <= d.params["duration_ms"] <= 420 for d in blinks)
    assert np.abs(tl.pose).max() > 0


def test_talking_is_jaw_and_lip_oscillation():
    tl = schedule(TimelineSpec(fps=60, duration_s=60, micro=0, macro=0, talking_per_min=10), np.random.default_rng(9))
    talk = [d for d in tl.distractors if d.kind == "talking"]
    assert talk
    jaw = tl.intensity[:, tl.components.index("26")]
    seg = jaw[talk[0].start : talk[0].end + 1]
    crossings = np.sum(np.diff((seg > seg.mean()).astype(int)) != 0)
    assert crossings >= 2 * 2.5 * len(seg) / 60 * 0.7  # >= ~2.5 syllables a second
    assert not tl.expressions


def test_same_seed_same_schedule_other_seed_other_schedule():
    spec = TimelineSpec(fps=120, duration_s=30, micro=4, macro=1)
    a = schedule(spec, np.random.default_rng(11)).to_manifest()
    b = schedule(spec, np.random.default_rng(11)).to_manifest()
    c = schedule(spec, np.random.default_rng(12)).to_manifest()
    assert a == b and a != c


def test_too_many_events_for_the_duration():
    with pytest.raises(InputError, match="need at least"):
        schedule(TimelineSpec(fps=30, duration_s=8, micro=10, macro=2), np.random.default_rng(0))


def test_envelope_shape():
    env = envelope(11, 4, 2, 4)
    assert env[0] == 0 and env[-1] == 0
    assert np.all(np.diff(env[:5]) > 0) and np.all(env[4:7] == 1.0) and np.all(np.diff(env[6:]) < 0)
