"""The flash detector (edge/spotting/flashes.py) on scripted brow and lip-corner heights, and its place in the queue."""

from __future__ import annotations

import numpy as np
import pytest

from edge.spotting.flashes import (BROWS, CORNERS, DIP_MS, HAPPY_RISE, MIN_MS, REBOUND_MS, SHARE, SMILE_RISE, TALK_SHARE,
                                  WARM_MS, ActionFlashes)
from edge.spotting.candidate import Sample
from edge.spotting.describe import describe_flash
from edge.spotting.episodes import EmotionEpisodes
from edge.spotting.side_detectors import EpisodeQueue
from edge.spotting.features import AU_NAMES, FeatureExtractor

FPS = 24.0


START = BROWS.start
MAX_MS = BROWS.max_ms
HAPPY = np.array([0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0])  # FER2013 order: angry disgust fear happy sad surprise neutral
NEUTRAL = np.array([0.02, 0.0, 0.02, 0.02, 0.02, 0.02, 0.9])


def sample(i: int, brows: float, fps: float = FPS, corners: float = 0.0, happy: float | None = None,
           talking: bool = False) -> Sample:
    """Frame i with both brows `brows` and both lip corners `corners` IOD above their neutral height;
    `happy`: the CNN's happiness probability on this frame (None: the CNN did not run)."""
    t_ms = i * 1000.0 / fps
    est = np.zeros(len(AU_NAMES))
    est[BROWS.rows] = brows
    est[CORNERS.rows] = corners
    emotion = None if happy is None else happy * HAPPY + (1.0 - happy) * NEUTRAL
    return Sample(t_ms, int(t_ms * 1e6), i, 0.0, est.copy(), np.eye(3), 0.0, False, None, emotion, t_ms,
                  talking=talking, estimates=est)


def trapezoid(t: float, start: float, rise: float, hold: float, fall: float, height: float) -> float:
    """Brows going up over `rise` s from `start`, held `hold` s, down over `fall` s."""
    if t < start or t > start + rise + hold + fall:
        return 0.0
    if t < start + rise:
        return height * (t - start) / rise
    if t <= start + rise + hold:
        return height
    return height * (1.0 - (t - start - rise - hold) / fall)


def run(heights, seconds: float, fps: float = FPS, happy=lambda t: 0.0, noise: float = 0.0, seed: int = 0,
        corners=lambda t: 0.0, cnn=lambda t: None, talking=lambda t: False):
    """Feed `seconds` of frames: `heights(t)` the brows, `corners(t)` the lip corners, `happy(t)` the CNN's
    happiness over usual, `cnn(t)` its happiness probability, `talking(t)` the talking gate."""
    det, out = ActionFlashes(), []
    rng = np.random.default_rng(seed)
    for i in range(int(seconds * fps)):
        t = i / fps
        s = sample(i, heights(t) + noise * rng.standard_normal(), fps, corners(t), cnn(t), talking(t))
        out += det.update(s, happy(t))
    return out + det.flush()


def test_a_brow_flash_is_found_with_its_onset_apex_and_offset() -> None:
    (flash,) = run(lambda t: trapezoid(t, 5.0, 0.15, 0.2, 0.2, 0.03), 10.0)
    # Above SHARE of the 0.03 peak: from 5.0 + 0.4 * 0.15 s to the fall's 60 % point.
    assert flash.onset.t_ms == pytest.approx(5000.0 + SHARE * 150.0, abs=1000 / FPS)
    assert flash.offset.t_ms == pytest.approx(5350.0 + (1 - SHARE) * 200.0, abs=1000 / FPS)
    assert 5150.0 - 1000 / FPS <= flash.samples[flash.apex].t_ms <= 5350.0 + 1000 / FPS
    assert flash.peak == pytest.approx(0.03, abs=1e-6)


def test_the_same_flash_at_120_fps_has_the_same_extent() -> None:
    slow = run(lambda t: trapezoid(t, 5.0, 0.15, 0.2, 0.2, 0.03), 10.0)[0]
    fast = run(lambda t: trapezoid(t, 5.0, 0.15, 0.2, 0.2, 0.03), 10.0, fps=120.0)[0]
    assert fast.onset.t_ms == pytest.approx(slow.onset.t_ms, abs=1000 / FPS)
    assert fast.offset.t_ms == pytest.approx(slow.offset.t_ms, abs=1000 / FPS)


def test_a_raise_under_the_start_level_a_glitch_and_a_held_raise_are_not_flashes() -> None:
    assert run(lambda t: trapezoid(t, 5.0, 0.15, 0.3, 0.2, 0.8 * START), 10.0) == []
    glitch = MIN_MS / 2000.0
    assert run(lambda t: trapezoid(t, 5.0, glitch / 2, 0.0, glitch / 2, 0.05), 10.0, fps=120.0) == []
    held = MAX_MS / 1000.0 + 1.0
    assert run(lambda t: trapezoid(t, 5.0, 0.15, held, 0.2, 0.03), 15.0) == []


def with_dip(base, at: float, frames: int, fps: float = FPS):
    """`base(t)` with `frames` frames from `at` s on dropped to zero (a landmark glitch, or the brows coming down)."""
    return lambda t: 0.0 if at <= t < at + (frames - 0.5) / fps else base(t)


def test_a_one_frame_dip_does_not_split_a_flash_a_longer_one_does() -> None:
    raise_ = lambda t: trapezoid(t, 5.0, 0.05, 0.4, 0.05, 0.05)
    assert 1000.0 / FPS < DIP_MS < 2000.0 / FPS  # one frame at 24 fps is under the dip's length, two are not
    (whole,) = run(with_dip(raise_, 5.2, 1), 10.0)
    assert whole.onset.t_ms < 5200.0 < whole.offset.t_ms and whole.duration_ms() > 400.0
    # Two frames end it at the dip (what follows, no higher and this soon, is its tail: next test).
    (cut,) = run(with_dip(raise_, 5.2, 2), 10.0)
    assert cut.offset.t_ms < 5200.0
    # At 120 fps the same 42 ms dip is five frames: still one flash, whose offset is the fall's.
    (fast,) = run(with_dip(raise_, 5.2, 5, 120.0), 10.0, fps=120.0)
    assert fast.offset.t_ms == pytest.approx(whole.offset.t_ms, abs=1000 / FPS)


def test_a_weaker_rebound_just_after_a_flash_is_its_tail_a_stronger_or_later_one_is_new() -> None:
    first = lambda t: trapezoid(t, 5.0, 0.05, 0.2, 0.05, 0.05)
    gap = 0.15  # well under REBOUND_MS, over DIP_MS: the first flash has ended
    assert DIP_MS / 1000 < gap < REBOUND_MS / 1000
    second_at = 5.3 + gap
    weaker = lambda t: first(t) + trapezoid(t, second_at, 0.05, 0.1, 0.05, 0.04)
    stronger = lambda t: first(t) + trapezoid(t, second_at, 0.05, 0.1, 0.05, 0.06)
    later = lambda t: first(t) + trapezoid(t, 5.3 + REBOUND_MS / 1000 + 0.2, 0.05, 0.1, 0.05, 0.04)
    assert [round(f.peak, 3) for f in run(weaker, 10.0)] == [0.05]
    assert [round(f.peak, 3) for f in run(stronger, 10.0)] == [0.05, 0.06]
    assert [round(f.peak, 3) for f in run(later, 10.0)] == [0.05, 0.04]


def test_brows_drifting_up_slowly_are_not_a_flash_their_rest_follows_them() -> None:
    # A slow nod or a slow lift: 0.05 IOD over 10 s, well over START in all, never START within the window.
    assert run(lambda t: 0.005 * max(0.0, t - 3.0), 15.0) == []


def test_a_flash_after_a_held_raise_is_found_once_the_brows_came_down() -> None:
    def heights(t: float) -> float:
        return trapezoid(t, 3.0, 0.2, MAX_MS / 1000.0 + 0.5, 0.2, 0.03) + trapezoid(t, 9.0, 0.15, 0.2, 0.2, 0.03)
    (flash,) = run(heights, 14.0)
    assert 9000.0 <= flash.onset.t_ms < flash.offset.t_ms <= 9600.0


def test_noise_of_a_small_face_raises_the_start_level() -> None:
    # Jitter of 0.006 IOD (a face of a few dozen pixels) crosses START now and then; 8 times it never does.
    assert run(lambda t: 0.0, 60.0, noise=0.006, seed=3) == []
    (flash,) = run(lambda t: trapezoid(t, 10.0, 0.15, 0.3, 0.2, 0.08), 20.0, noise=0.006, seed=3)
    assert 10000.0 <= flash.samples[flash.apex].t_ms <= 10700.0


def test_brows_raised_in_a_laugh_belong_to_the_laugh() -> None:
    def heights(t: float) -> float:
        return trapezoid(t, 5.0, 0.15, 0.2, 0.2, 0.03)
    assert run(heights, 10.0, happy=lambda t: 0.9 if 4.0 <= t <= 6.0 else 0.0) == []
    assert len(run(heights, 10.0, happy=lambda t: HAPPY_RISE - 0.1)) == 1


def test_nothing_before_the_rest_is_known() -> None:
    assert run(lambda t: trapezoid(t, WARM_MS / 2000.0, 0.15, 0.2, 0.2, 0.03), 5.0) == []


def test_a_flash_just_after_the_first_second_is_found() -> None:
    """Annotators leave a clip's first second out; a posed clip's expression can start right after it."""
    (flash,) = run(lambda t: trapezoid(t, 1.0, 0.15, 0.2, 0.2, 0.03), 3.0, noise=0.001, seed=5)
    assert 950.0 <= flash.onset.t_ms <= 1100.0


def test_a_flash_waits_for_the_cnn_episode_under_way_and_is_dropped_where_one_covers_it() -> None:
    (flash,) = run(lambda t: trapezoid(t, 5.0, 0.15, 0.2, 0.2, 0.03), 10.0)
    on, off = flash.onset.index, flash.offset.index
    q = EpisodeQueue()
    q.add([flash])
    assert q.ready(busy_from=None, episodes_busy_from=on - 5) == []  # a CNN episode under way may cover it
    q.reported(off + 10, off + 40)  # the spotter's event elsewhere does not
    assert q.ready(busy_from=None, episodes_busy_from=None) == [flash]
    again = EpisodeQueue()
    again.reported(on - 20, on + 2, {"AU1", "AU2", "AU5"})  # an event the spotter reported on the brows wins
    again.add([flash])
    assert again.ready(busy_from=None) == []
    smile = EpisodeQueue()
    smile.reported(on - 20, off + 20, {"AU6", "AU12"})  # brows raised during a smile are their own expression
    smile.add([flash])
    assert smile.ready(busy_from=None) == [flash]
    sad = EpisodeQueue()
    sad.reported(on - 60, off + 20, {"AU1", "AU4", "AU15"})  # a sadness moved the inner brows only, not AU2
    sad.add([flash])
    assert sad.ready(busy_from=None) == [flash]


def test_a_cnn_episode_wins_over_a_flash_of_its_own_action_inside_it() -> None:
    det, eps = EmotionEpisodes(), []
    neutral = np.array([0.02, 0.0, 0.02, 0.02, 0.02, 0.02, 0.9])
    surprised = np.array([0.02, 0.0, 0.02, 0.02, 0.02, 0.82, 0.1])
    for i in range(int(10 * FPS)):
        t = i / FPS
        eps += det.update(sample(i, 0.0) if i % 3 else
                          Sample(t * 1000, int(t * 1e9), i, 0.0, np.zeros(len(AU_NAMES)), np.eye(3), 0.0, False,
                                 None, surprised if 4.5 <= t <= 6.5 else neutral, t * 1000))
    eps += det.flush()
    (flash,) = run(lambda t: trapezoid(t, 5.0, 0.15, 0.2, 0.2, 0.03), 10.0)
    q = EpisodeQueue()
    q.add([flash, *eps])
    assert q.ready(busy_from=None) == eps and len(eps) == 1


def quick_smile(t: float) -> float:
    return trapezoid(t, 5.0, 0.2, 0.6, 0.3, 0.05)


def test_a_quick_smile_the_cnn_also_sees_is_a_happiness_flash() -> None:
    (flash,) = run(lambda t: 0.0, 10.0, corners=quick_smile, happy=lambda t: 0.3 if 5.2 <= t <= 5.8 else 0.0)
    assert (flash.channel, flash.emotion) == (CORNERS, "happiness")
    assert 5000.0 <= flash.onset.t_ms < flash.samples[flash.apex].t_ms < flash.offset.t_ms <= 6100.0


def test_lip_corners_without_the_cnn_s_happiness_or_while_talking_are_not_a_smile() -> None:
    assert run(lambda t: 0.0, 10.0, corners=quick_smile, happy=lambda t: SMILE_RISE / 2) == []
    # A face the CNN reads as happy all the time: its happiness does not rise with the corners.
    assert run(lambda t: 0.0, 10.0, corners=quick_smile, cnn=lambda t: 1.0) == []
    talking = run(lambda t: 0.0, 10.0, corners=quick_smile, happy=lambda t: 0.3, talking=lambda t: 4.0 <= t <= 7.0)
    assert talking == []
    brief_talk = (1.0 - TALK_SHARE) * 0.5  # talking on a quarter of its frames: still a smile
    assert len(run(lambda t: 0.0, 10.0, corners=quick_smile, happy=lambda t: 0.3,
                   talking=lambda t: 5.0 <= t <= 5.0 + brief_talk)) == 1
    early = run(lambda t: 0.0, 10.0, corners=quick_smile, happy=lambda t: 0.3 if 4.5 <= t <= 4.9 else 0.0)
    assert len(early) == 1  # the CNN's rise just before the corners move counts


def test_a_flash_becomes_a_surprise_event_micro_or_macro_by_its_duration() -> None:
    (short,) = run(lambda t: trapezoid(t, 5.0, 0.1, 0.1, 0.1, 0.03), 10.0)
    (long,) = run(lambda t: trapezoid(t, 5.0, 0.15, 0.6, 0.3, 0.05), 10.0)
    fx = FeatureExtractor()
    a = describe_flash(short, fx, lambda ns: f"{ns}", {"software": "t"}, "clip.mp4", 500.0)
    b = describe_flash(long, fx, lambda ns: f"{ns}", {"software": "t"}, "clip.mp4", 500.0)
    assert (a.type, a.emotion, b.type, b.emotion) == ("micro", "surprise", "macro", "surprise")
    assert a.onset_frame < a.apex_frame <= a.offset_frame
    assert a.confidence == pytest.approx(0.03 / (2 * START), abs=1e-3) and b.confidence == 1.0
    assert {"AU1", "AU2"} <= set(b.aus)


def test_a_quick_smile_is_dropped_where_an_event_involving_both_lip_corners_covers_it() -> None:
    (flash,) = run(lambda t: 0.0, 10.0, corners=quick_smile, happy=lambda t: 0.3)
    on, off = flash.onset.index, flash.offset.index
    q = EpisodeQueue()
    q.reported(on - 5, off + 5, {"AU6", "AU12"})  # the record names a bilateral pull AU12, the estimates R12/L12
    q.add([flash])
    assert q.ready(busy_from=None) == []
    brows = EpisodeQueue()
    brows.reported(on - 5, off + 5, {"AU1", "AU2"})
    brows.add([flash])
    assert brows.ready(busy_from=None) == [flash]
    one_sided = EpisodeQueue()
    one_sided.reported(on - 5, off + 5, {"R12", "R14"})  # contempt pulls one corner: not this smile
    one_sided.add([flash])
    assert one_sided.ready(busy_from=None) == [flash]
