"""The emotion-episode detector (edge/spotting/episodes.py) on scripted CNN outputs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from edge.spotting.candidate import Sample
from edge.spotting.describe import describe_episode
from edge.spotting.episodes import (END_SHARE, EXTEND_MS, MERGE_MS, MIN_AU_RISE, MIN_CALM, MIN_MS, STAY,
                                    EmotionEpisodes)
from edge.spotting.flashes import BROWS, Flash
from edge.spotting.side_detectors import COVER_IOU, REPEAT_SHARE, EpisodeQueue, SameExpression
from edge.spotting.features import AU_NAMES, FeatureExtractor

FPS = 30.0
EVERY = 3  # the CNN runs every third frame, as the pipeline's emotion_every does
CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
NEUTRAL = np.array([0.05, 0.02, 0.05, 0.05, 0.1, 0.03, 0.7])


def softmax_with(cls: str, p: float) -> np.ndarray:
    """The neutral output with `p` of probability moved to class `cls`."""
    out = NEUTRAL * (1.0 - p)
    out[CLASSES.index(cls)] += p
    return out


SMILE_AUS = [AU_NAMES.index(a) for a in ("R12", "L12", "AU6")]


def sample(i: int, emotion: np.ndarray | None, smile: float = 0.0) -> Sample:
    """Frame i; `smile`: the landmark displacement (IOD) of the lip corners and cheeks."""
    t_ms = i * 1000.0 / FPS
    disp = np.zeros(len(AU_NAMES))
    disp[SMILE_AUS] = smile
    return Sample(t_ms, int(t_ms * 1e6), i, 0.0, disp, np.eye(3), 0.0, False, None, emotion, t_ms)


def run(script: list[tuple[float, str, float]], seconds: float,
        smile: tuple[float, float, float] | None = None) -> list:
    """Feed `seconds` of footage; `script`: (start s, class, probability) held until the next entry;
    `smile`: (from s, to s, IOD) the lip corners and cheeks are displaced."""
    det, out = EmotionEpisodes(), []
    for i in range(int(seconds * FPS)):
        t = i / FPS
        current = [(cls, p) for start, cls, p in script if start <= t]
        cls, p = current[-1] if current else ("neutral", 0.0)
        emotion = softmax_with(cls, p) if i % EVERY == 0 else None
        lift = smile[2] if smile and smile[0] <= t < smile[1] else 0.0
        out += det.update(sample(i, emotion, lift))
    return out + det.flush()


def test_a_smile_held_two_seconds_is_one_happiness_episode_with_its_extent() -> None:
    eps = run([(10.0, "happy", 0.8), (12.0, "neutral", 0.0)], 20.0)
    assert len(eps) == 1
    ep = eps[0]
    assert ep.emotion == "happiness"
    assert ep.samples[0].index == pytest.approx(10.0 * FPS, abs=EVERY)
    assert ep.samples[-1].index == pytest.approx(12.0 * FPS, abs=EVERY)
    assert ep.peak == pytest.approx(0.8 * (1 - NEUTRAL[3]), abs=0.02)


def test_the_extent_follows_the_smile_s_action_units_beyond_the_cnn_s_up_to_a_limit() -> None:
    (ep,) = run([(10.0, "happy", 0.8), (12.0, "neutral", 0.0)], 20.0, smile=(9.0, 12.8, 0.03))
    assert ep.onset.index == pytest.approx(9.0 * FPS, abs=1)  # the lip corners rose a second early
    assert ep.offset.index == pytest.approx(12.8 * FPS, abs=1)
    (held,) = run([(10.0, "happy", 0.8), (12.0, "neutral", 0.0)], 25.0, smile=(6.0, 18.0, 0.03))
    assert held.onset.t_ms == pytest.approx(10_000.0 - EXTEND_MS, abs=40.0)
    assert held.offset.t_ms == pytest.approx(held.samples[-1].t_ms + EXTEND_MS, abs=40.0)
    (faint,) = run([(10.0, "happy", 0.8), (12.0, "neutral", 0.0)], 20.0, smile=(9.0, 12.8, MIN_AU_RISE / 2))
    assert (faint.onset, faint.offset) == (faint.samples[0], faint.samples[-1])  # too faint to follow


def test_a_blip_shorter_than_the_minimum_is_not_an_episode() -> None:
    short = (MIN_MS - 150.0) / 1000.0
    assert run([(10.0, "happy", 0.9), (10.0 + short, "neutral", 0.0)], 15.0) == []


def test_a_dip_shorter_than_the_merge_time_does_not_end_a_laugh_and_a_longer_one_does() -> None:
    dip = (MERGE_MS - 200.0) / 1000.0
    one = run([(10.0, "happy", 0.8), (11.0, "neutral", 0.0), (11.0 + dip, "happy", 0.8), (12.0, "neutral", 0.0)],
              20.0)
    assert len(one) == 1 and one[0].duration_ms() > 1800.0
    long_dip = (MERGE_MS + 400.0) / 1000.0
    two = run([(10.0, "happy", 0.8), (11.0, "neutral", 0.0), (11.0 + long_dip, "happy", 0.8),
               (13.0, "neutral", 0.0)], 20.0)
    assert len(two) == 2


def test_fear_and_surprise_are_one_channel_named_surprise() -> None:
    eps = run([(5.0, "fear", 0.7), (6.5, "neutral", 0.0)], 10.0)
    assert [e.emotion for e in eps] == ["surprise"]


def test_crying_that_turns_into_surprise_is_two_episodes() -> None:
    eps = run([(5.0, "sad", 0.7), (7.0, "surprise", 0.8), (9.0, "neutral", 0.0)], 12.0)
    assert [e.emotion for e in eps] == ["sadness", "surprise"]
    assert eps[0].samples[-1].index < eps[1].samples[0].index


def test_a_smile_held_half_a_minute_stays_one_episode_the_usual_level_is_a_low_percentile() -> None:
    eps = run([(10.0, "happy", 0.7), (40.0, "neutral", 0.0)], 50.0)
    assert len(eps) == 1
    assert eps[0].duration_ms() == pytest.approx(30_000.0, abs=200.0)


def test_a_laugh_that_falls_most_of_the_way_back_has_ended_and_one_that_eases_has_not() -> None:
    """Annotators mark a new episode where a smile re-intensifies after falling most of the way back;
    the CNN's rise above STAY alone kept franck's laugh and the two smiles after it one 35-s episode."""
    peak, low = 0.9, 0.2  # the dip's rise (about 0.2) is above STAY but under END_SHARE of the peak
    assert STAY < low * (1 - NEUTRAL[3]) < END_SHARE * peak * (1 - NEUTRAL[3])
    two = run([(10.0, "happy", peak), (12.0, "happy", low), (13.0, "happy", peak), (15.0, "neutral", 0.0)], 20.0)
    assert [round(e.duration_ms() / 1000.0) for e in two] == [2, 2]
    eased = run([(10.0, "happy", peak), (12.0, "happy", 0.6), (13.0, "happy", peak), (15.0, "neutral", 0.0)], 20.0)
    assert len(eased) == 1 and eased[0].duration_ms() == pytest.approx(5000.0, abs=200.0)


def test_a_posed_smile_held_long_after_a_short_neutral_stays_one_episode() -> None:
    """A short posed clip: 1.2 s of neutral face, then a smile held for 9 s. The usual level comes from
    the outputs outside episodes, so the smile does not become "usual" once it fills 80 % of the clip."""
    (ep,) = run([(1.2, "happy", 0.8), (10.2, "neutral", 0.0)], 12.0)
    assert ep.duration_ms() == pytest.approx(9000.0, abs=200.0)
    assert MIN_CALM <= 1.2 * FPS / EVERY


def test_nothing_before_the_usual_level_is_known_and_nothing_without_the_cnn() -> None:
    assert run([(0.0, "happy", 0.9), (1.0, "neutral", 0.0)], 5.0) == []
    det = EmotionEpisodes()
    assert all(det.update(sample(i, None)) == [] for i in range(300)) and det.flush() == []


def test_a_posed_smile_right_after_the_first_second_is_found() -> None:
    """Annotators leave a clip's first second out; a short posed clip's expression can start right after."""
    (ep,) = run([(1.1, "happy", 0.8), (2.6, "neutral", 0.0)], 4.0)
    assert ep.emotion == "happiness"
    assert ep.onset.index == pytest.approx(1.1 * FPS, abs=EVERY)


def test_the_queue_drops_an_episode_the_spotter_reported_and_holds_one_it_may_still_report() -> None:
    eps = run([(5.0, "happy", 0.8), (7.0, "neutral", 0.0), (10.0, "surprise", 0.8), (12.0, "neutral", 0.0)], 15.0)
    first, second = eps
    q = EpisodeQueue()
    q.add(eps)
    q.reported(first.samples[0].index + 10, first.samples[-1].index + 30)  # the spotter's event on the smile
    assert q.ready(busy_from=second.samples[-1].index) == []  # the smile is dropped, the surprise waits
    assert q.ready(busy_from=None) == [second]
    assert q.ready(busy_from=None) == []


def test_an_episode_yields_only_to_an_event_sharing_cover_iou_of_its_frames() -> None:
    """A brief excursion on the edge of a long laugh is not the laugh: the episode stays its own event."""
    (ep,) = run([(5.0, "happy", 0.8), (9.0, "neutral", 0.0)], 12.0)
    on, off = ep.onset.index, ep.offset.index
    n = off - on + 1
    edge = EpisodeQueue()
    edge.reported(on - 2, on + int(0.2 * n))  # IoU about 0.2: another expression at the smile's start
    edge.add([ep])
    assert edge.ready(busy_from=None) == [ep]
    covered = EpisodeQueue()
    covered.reported(on + int(0.3 * n), off + 5)  # IoU about 0.7: the spotter's event on this smile
    covered.add([ep])
    assert covered.ready(busy_from=None) == []
    assert COVER_IOU == 0.3


def test_what_the_last_check_drops_does_not_suppress_the_flashes_after_it() -> None:
    """An episode SameExpression drops (a second view of an expression already out) is not released,
    so a brow flash on its frames is judged on its own; one it keeps still covers the flash."""
    (ep,) = run([(5.0, "surprise", 0.8), (6.5, "neutral", 0.0)], 10.0)
    on = ep.onset.index
    flash = Flash(BROWS, [sample(i, None) for i in range(on + 2, on + 8)], [0.01, 0.02, 0.03, 0.03, 0.02, 0.01])
    kept, dropped = EpisodeQueue(), EpisodeQueue()
    kept.add([flash, ep])
    dropped.add([flash, ep])
    seen: list[object] = []
    assert kept.ready(busy_from=None, keep=lambda found: seen.append(found) is None) == [ep]
    assert seen == [ep]  # the flash, covered by the episode released, was never offered
    assert dropped.ready(busy_from=None, keep=lambda found: isinstance(found, Flash)) == [flash]


def test_an_episode_becomes_a_macro_event_named_by_its_channel() -> None:
    (ep,) = run([(10.0, "happy", 0.6), (11.0, "happy", 0.8), (11.5, "happy", 0.6), (12.0, "neutral", 0.0)], 20.0)
    ev = describe_episode(ep, FeatureExtractor(), lambda ns: f"{ns}", {"software": "t"}, "clip.mp4")
    assert (ev.type, ev.emotion, ev.video) == ("macro", "happiness", "clip.mp4")
    assert ev.onset_frame < ev.apex_frame < ev.offset_frame
    assert 11.0 * FPS <= ev.apex_frame < 11.5 * FPS
    assert ev.duration_ms == pytest.approx(2000.0, abs=2 * EVERY * 1000 / FPS)
    assert ev.scores["happiness"] == max(ev.scores.values()) and sum(ev.scores.values()) == pytest.approx(1.0)


def test_a_second_macro_event_of_the_same_emotion_over_the_same_frames_is_dropped_and_others_pass() -> None:
    (ep,) = run([(10.0, "happy", 0.6), (11.0, "happy", 0.8), (11.5, "happy", 0.6), (12.0, "neutral", 0.0)], 20.0)
    smile = describe_episode(ep, FeatureExtractor(), lambda ns: f"{ns}", {"software": "t"}, "clip.mp4")
    on, off = smile.onset_frame, smile.offset_frame

    def ev(a: int, b: int, emotion: str = "happiness", kind: str = "macro") -> object:
        return dataclasses.replace(smile, onset_frame=a, apex_frame=a, offset_frame=b, emotion=emotion, type=kind)

    corner_flash = ev(on - 5, on + 10)  # the smile's flash, found after the CNN's episode
    brows = ev(on + 2, on + 12, "surprise")  # another expression on the same frames
    quick = ev(on + 3, on + 6, kind="micro")  # a flash inside it: what the product is for
    later = ev(off + 1, off + 40)  # the next smile, touching none of the first's frames
    same = SameExpression()
    assert same.keep([smile]) == [smile]
    assert same.keep([corner_flash, brows, quick]) == [brows, quick]
    assert same.keep([later]) == [later]
    assert same.keep([ev(off + 30, off + 45)]) == []  # 11 of its 16 frames inside `later`
    assert same.keep([ev(off + 38, off + 60)]) == [ev(off + 38, off + 60)]  # 3 of 23: mostly its own


def test_a_whole_laugh_after_the_first_seconds_of_it_went_out_is_kept() -> None:
    """The excursion spotter reports the first seconds of a long laugh; the CNN's episode of the whole
    laugh, mostly outside them, is kept. Any overlap used to drop it (a cut of franck's laugh at 3573)."""
    (ep,) = run([(10.0, "happy", 0.6), (11.0, "happy", 0.8), (11.5, "happy", 0.6), (12.0, "neutral", 0.0)], 20.0)
    base = describe_episode(ep, FeatureExtractor(), lambda ns: f"{ns}", {"software": "t"}, "clip.mp4")

    def ev(a: int, b: int) -> object:
        return dataclasses.replace(base, onset_frame=a, apex_frame=a, offset_frame=b)

    first_seconds, more = ev(260, 320), ev(321, 342)
    laugh = ev(36, 533)  # 83 of its 498 frames inside the pieces out
    same = SameExpression()
    assert same.keep([first_seconds, more]) == [first_seconds, more]
    assert same.keep([laugh]) == [laugh]
    assert REPEAT_SHARE == 0.5
    assert same.keep([ev(434, 633)]) == []  # 100 of its 200 frames inside the laugh: half is a repeat
    assert same.keep([ev(435, 634)]) == [ev(435, 634)]  # 99 of 200: its own
