"""The streaming spotter on landmark streams: timing, types, rejections, the record.

At 30 fps a 40 ms expression covers about one frame, and only if a frame falls
near its apex: the tests place it so one does (one phase in which it is seen),
and then expect `micro` with onset/offset on the frames either side (67 ms).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import numpy as np
import pytest

from edge.config import SpottingConfig
from edge.errors import InputError
from edge.events.record import EMOTIONS
from edge.spotting.features import AU_INDEX
from edge.spotting.gates import GATE_INPUTS
from edge.spotting.measurement import SMOOTH_MS
from edge.spotting.spotter import CONFIRM_MS, Spotter

from .conftest import PROTOTYPE_AUS, au_displacement, run_spotter, smooth_bump

SMILE = {"6": 0.8, "12": 0.8}
ONSET_MS = 3000.0  # on a frame at 24, 30, 120 and 200 fps


def spotter(**kw) -> Spotter:
    return Spotter(SpottingConfig(**kw), clock=lambda: datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc))


def one_event(events: list, fps: float, duration_ms: float, onset_ms: float = ONSET_MS) -> object:
    assert len(events) == 1, [(e.type, e.onset_frame, e.offset_frame, e.aus) for e in events]
    ev = events[0]
    # Truth as annotated: the last frame at rest before and the first at rest after.
    onset = int(np.floor(onset_ms * fps / 1000 + 1e-9))
    offset = int(np.ceil((onset_ms + duration_ms) * fps / 1000 - 1e-9))
    inter = min(offset, ev.offset_frame) - max(onset, ev.onset_frame) + 1
    union = max(offset, ev.offset_frame) - min(onset, ev.onset_frame) + 1
    assert inter / union >= 0.6, ((ev.onset_frame, ev.offset_frame), (onset, offset))  # MEGC counts >= 0.5
    assert ev.onset_frame <= ev.apex_frame <= ev.offset_frame
    return ev


@pytest.mark.parametrize("fps", [24.0, 30.0, 120.0, 200.0])
@pytest.mark.parametrize("duration_ms,kind", [(40.0, "micro"), (480.0, "micro"), (500.0, "micro"), (700.0, "macro")])
def test_excursion_duration_decides_micro_or_macro(make_stream, fps, duration_ms, kind) -> None:
    # At 24 and 30 fps a 40 ms event is seen only if a frame falls near its apex: put one there.
    onset = ONSET_MS - duration_ms / 2 if fps <= 30.0 and duration_ms < 1000 / fps * 2 else ONSET_MS
    stream = make_stream(fps=fps, seconds=5.0).expression(SMILE, onset, duration_ms, 0.3 if kind == "macro" else 0.0)
    ev = one_event(run_spotter(spotter(), stream), fps, duration_ms, onset)
    assert ev.type == kind
    # Duration as annotated: last frame at rest before to first at rest after.
    frame_ms = 1000.0 / fps
    # Short events come out wider by up to the smoothing window.
    assert abs(ev.duration_ms - duration_ms) <= max(2 * frame_ms, 0.2 * duration_ms) + SMOOTH_MS + 1e-6
    # Micro to within a frame: each end is placed on a frame (extent.is_micro).
    assert ev.duration_ms <= 500.0 + frame_ms if kind == "micro" else ev.duration_ms > 500.0 + frame_ms
    assert ev.emotion == "happiness"


def test_blink_alone_yields_no_event(make_stream) -> None:
    sp = spotter()
    stream = make_stream(seconds=5.0).expression({"45": 1.0}, ONSET_MS, 250.0)
    assert run_spotter(sp, stream) == []


def test_head_rotation_alone_yields_no_event(make_stream) -> None:
    t = make_stream().t_ms
    bump = np.sin(np.clip((t - ONSET_MS) / 400.0, 0, 1) * np.pi) ** 2
    for pose in ({"yaw": 15 * bump}, {"pitch": -10 * bump}, {"roll": 12 * bump}):
        stream = make_stream(seconds=6.0).head(**pose)
        assert run_spotter(spotter(), stream) == [], pose


def test_talking_like_jaw_oscillation_alone_yields_no_event(make_stream) -> None:
    stream = make_stream(seconds=7.0)
    for k in range(8):  # 4 syllables per second for 2 s
        stream.expression({"26": 0.35, "25": 0.2}, ONSET_MS + 250.0 * k, 200.0)
    assert run_spotter(spotter(), stream) == []


@pytest.mark.parametrize("emotion", sorted(PROTOTYPE_AUS))
def test_each_prototype_yields_its_emotion(make_stream, emotion) -> None:
    aus = {a: 0.7 for a in PROTOTYPE_AUS[emotion]}
    ev = one_event(run_spotter(spotter(), make_stream(seconds=5.0).expression(aus, ONSET_MS, 300.0)), 120.0, 300.0)
    assert ev.type == "micro"
    assert ev.emotion == emotion, (ev.scores, ev.aus)
    assert set(ev.scores) == set(EMOTIONS)
    assert ev.scores[emotion] == max(ev.scores.values())
    assert 0.0 < ev.confidence <= 1.0


def test_event_record_carries_utc_times_pose_and_versions(make_stream) -> None:
    sp = spotter()
    sp.set_context(versions={"models": "abc123"})
    stream = make_stream(seconds=5.0).expression(SMILE, ONSET_MS, 200.0).head(yaw=4.0, pitch=-2.0, roll=1.0)
    ev = run_spotter(sp, stream)[0]
    # The first frame (t_ns = 1 s) is the UTC anchor 03:04:05.000; frame i is i/120 s later.
    def utc(frame: int) -> str:
        ms = round(frame * 1000 / 120)
        return f"2026-01-02T03:04:{5 + ms // 1000:02d}.{ms % 1000:03d}Z"
    assert ev.onset_utc == utc(ev.onset_frame)
    assert ev.apex_utc == utc(ev.apex_frame)
    assert ev.offset_utc == utc(ev.offset_frame)
    assert ev.head_pose == {"yaw": 4.0, "pitch": -2.0, "roll": 1.0}
    assert ev.versions["models"] == "abc123" and ev.versions["software"]
    assert ev.aus and all(0 < v <= 1 for v in ev.aus.values())
    d = ev.to_dict()
    assert d["schema"] == 1 and d["type"] == "micro"


def test_event_is_emitted_soon_after_its_offset(make_stream) -> None:
    sp = spotter()
    stream = make_stream(seconds=5.0).expression(SMILE, ONSET_MS, 200.0)
    emitted_at = None
    for frame, res in stream.frames():
        if sp.update(frame, res):
            emitted_at = frame.index
            break
    assert emitted_at is not None
    offset_frame = (ONSET_MS + 200.0) * 120 / 1000
    # Bounded delay: the confirmation time, one frame, and the smoothing window.
    assert (emitted_at - offset_frame) * 1000 / 120 <= CONFIRM_MS + 2 * 1000 / 120 + 20.0


def test_face_lost_mid_stream_keeps_working(make_stream) -> None:
    sp = spotter()
    frames = list(make_stream(seconds=8.0).expression(SMILE, 6000.0, 250.0).frames())
    events = []
    for frame, res in frames:
        if 2000.0 <= frame.index * 1000 / 120 < 2500.0:
            res = dataclasses.replace(res) if dataclasses.is_dataclass(res) else type(res)(face=False, landmarks=None,
                                                                                            pose=None, emotion=None)
        events += sp.update(frame, res)
    events += sp.flush()
    assert [e.type for e in events] == ["micro"]


def test_no_events_on_neutral_noise(make_stream) -> None:
    assert run_spotter(spotter(), make_stream(seconds=10.0, noise_px=0.3)) == []


def test_set_thresholds_validates_and_applies() -> None:
    sp = spotter()
    out = sp.set_thresholds(threshold=8.0, max_micro_ms=450)
    assert out["threshold"] == 8.0 and sp.cfg.max_micro_ms == 450.0
    with pytest.raises(InputError, match="unknown"):
        sp.set_thresholds(bogus=1)
    with pytest.raises(InputError, match="positive"):
        sp.set_thresholds(threshold=-1)
    with pytest.raises(InputError):
        sp.set_thresholds(min_micro_ms=600)  # above max_micro_ms
    assert sp.cfg.threshold == 8.0  # a refused change changes nothing


def test_a_smile_narrowing_the_eyes_is_not_taken_for_a_blink(make_stream) -> None:
    # A cheek raise pushes the lower lid up (the landmark model reads some eye closure), but
    # the lip corners move far more than a blink ever drags them.
    stream = make_stream(seconds=5.0).expression({"6": 0.9, "12": 0.9, "45": 0.25}, ONSET_MS, 300.0)
    ev = one_event(run_spotter(spotter(), stream), 120.0, 300.0)
    assert ev.type == "micro" and ev.emotion == "happiness"


def test_a_step_to_a_new_rest_is_no_event_and_becomes_the_neutral(make_stream) -> None:
    # The chin settles higher for good at 2.5 s (a change of posture), then a smile flashes at 5.5 s.
    stream = make_stream(seconds=8.0)
    stream.expression({"17": 0.6}, 2500.0, 60_000.0, hold_frac=0.99)
    stream.expression(SMILE, 5500.0, 300.0)
    sp = spotter()
    events = run_spotter(sp, stream)
    ev = one_event(events, 120.0, 300.0, 5500.0)
    assert ev.emotion == "happiness"
    assert sp.rejected["settled"] >= 1



@pytest.mark.parametrize("detected", [True, False])
def test_a_bad_first_fit_does_not_become_the_flow_neutral(neutral_landmarks, detected) -> None:
    """The first frame's landmarks are off (a fresh detection's crop): the flow reference taken on it
    is renewed a second later, and the flow's neutral must move with it (or be taken after the
    tracker settled), else the still face scores as an expression until a re-baseline."""
    from skimage import data

    from edge.sources.frame import Frame

    photo = np.ascontiguousarray(data.astronaut()[:, :, :3])
    rng = np.random.default_rng(5)
    centre = neutral_landmarks[:, :2].mean(axis=0)
    off = neutral_landmarks.copy()
    off[:, :2] = (off[:, :2] - centre) * 1.03 + centre + (3.0, -2.0)  # 3 % larger, shifted: a detection's fit
    noisy = [np.clip(photo + rng.normal(0.0, 2.0, photo.shape), 0, 255).astype(np.uint8) for _ in range(8)]
    sp = spotter()
    events = []
    for i in range(int(3.5 * 120)):
        frame = Frame(noisy[i % 8], int(i * 1e9 / 120), i)
        lm = off if i == 0 else neutral_landmarks + rng.normal(0.0, 0.15, neutral_landmarks.shape)
        res = type("Res", (), dict(face=True, landmarks=lm, pose=None, emotion=None, detected=detected and i == 0))
        events += sp.update(frame, res)
    assert events == [], [(e.type, e.onset_frame, e.offset_frame) for e in events]
    assert sum(sp.rejected.values()) == 0, sp.rejected


def test_landmarks_that_stay_displaced_while_the_image_is_neutral_do_not_hold_the_spotter(neutral_landmarks) -> None:
    """After an expression the landmark model can leave the lips a little off while the image (the
    optical flow) is back at neutral; that level excursion must be settled, not held until the
    re-baseline at max_macro_ms, or it hides the expressions that follow."""
    from skimage import data

    from edge.sources.frame import Frame

    photo = np.ascontiguousarray(data.astronaut()[:, :, :3])
    rng = np.random.default_rng(7)
    noisy = [np.clip(photo + rng.normal(0.0, 2.0, photo.shape), 0, 255).astype(np.uint8) for _ in range(8)]
    stuck = au_displacement(neutral_landmarks, {"15": 0.5})
    smile = au_displacement(neutral_landmarks, SMILE)
    sp = spotter()
    events = []
    for i in range(int(5.5 * 120)):
        t_ms = i * 1000.0 / 120
        lm = neutral_landmarks + rng.normal(0.0, 0.15, neutral_landmarks.shape)
        if t_ms >= 2500.0:
            lm = lm + stuck
        lm = lm + float(smooth_bump(np.array([t_ms]), 4000.0, 300.0)[0]) * smile
        res = type("Res", (), dict(face=True, landmarks=lm, pose=None, emotion=None, detected=i == 0))
        events += sp.update(Frame(noisy[i % 8], int(t_ms * 1e6), i), res)
    events += sp.flush()
    assert sp.rejected["too_long"] == 0 and sp.rejected["settled"] >= 1, sp.rejected
    found = [e for e in events if abs(e.onset_frame - 480) <= 12]
    assert len(found) == 1 and found[0].type == "micro", [(e.type, e.onset_frame, e.offset_frame) for e in events]


def test_a_neutral_learnt_on_a_deviated_face_is_given_up_once_the_face_rests(neutral_landmarks) -> None:
    """The session starts mid-sentence: the first seconds, from which the neutral is learnt, show
    the mouth open while the landmark model barely follows it. Once the face rests, the optical flow
    alone holds the score up; the drift renewal must make that rest the neutral, or every later
    excursion is dropped as drift (a whole generated clip once scored nothing this way)."""
    import cv2
    from skimage import data

    from edge.sources.frame import Frame

    photo = np.ascontiguousarray(data.astronaut()[:, :, :3])
    h, w = photo.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    mouth = neutral_landmarks[[13, 14], :2].mean(axis=0)
    iod = float(np.linalg.norm(neutral_landmarks[263, :2] - neutral_landmarks[33, :2]))
    weight = np.exp(-((xx - mouth[0]) ** 2 + (yy - mouth[1] - 0.1 * iod) ** 2) / (2 * (0.15 * iod) ** 2))
    open_mouth = cv2.remap(photo, xx, (yy - 0.05 * iod * weight).astype(np.float32), cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REFLECT)
    rng = np.random.default_rng(11)

    def noisy(img: np.ndarray) -> list[np.ndarray]:
        return [np.clip(img + rng.normal(0.0, 2.0, img.shape), 0, 255).astype(np.uint8) for _ in range(4)]

    talking, resting = noisy(open_mouth), noisy(photo)
    smile = au_displacement(neutral_landmarks, SMILE)
    sp = spotter()
    events = []
    for i in range(int(6.0 * 120)):
        t_ms = i * 1000.0 / 120
        image = (talking if t_ms < 1800.0 else resting)[i % 4]
        lm = neutral_landmarks + rng.normal(0.0, 0.15, neutral_landmarks.shape)
        lm = lm + float(smooth_bump(np.array([t_ms]), 4500.0, 300.0)[0]) * smile
        res = type("Res", (), dict(face=True, landmarks=lm, pose=None, emotion=None, detected=i == 0))
        events += sp.update(Frame(image, int(t_ms * 1e6), i), res)
    events += sp.flush()
    found = [e for e in events if abs(e.onset_frame - 540) <= 12]
    assert len(found) == 1 and found[0].type == "micro", [(e.type, e.onset_frame, e.offset_frame) for e in events]
    assert sp.rejected["flow_drift"] <= 1, sp.rejected


@pytest.mark.parametrize("travel_px, strength, found",
                         [(0.0, 0.5, True), (5.0, 0.5, False), (12.0, 0.5, False), (5.0, 3.0, True), (12.0, 3.0, False)])
def test_an_expression_while_the_face_travels_across_the_image_is_head_motion_unless_strong(
        make_stream, travel_px, strength, found) -> None:
    """A nod or turn pivots the head at the neck, so the face travels across the image; the
    landmark model may not read the rotation (a planar turn) while the flow and the landmarks see
    the foreshortening as an expression. A clear expression survives (MOTION_OVERRIDE), the
    clearer the faster the face travels: a strong smile survives a 0.5 IOD/s nod, not a 1.2 IOD/s one."""
    from edge.spotting.candidate import SHIFT_IOD_PER_S

    stream = make_stream()
    t = stream.t_ms
    nod = np.sin(np.clip((t - ONSET_MS + 100.0) / 500.0, 0, 1) * np.pi) ** 2
    stream.travel(dy=travel_px * nod).expression({k: strength * v for k, v in SMILE.items()}, ONSET_MS, 300.0)
    iod = float(np.linalg.norm(stream.neutral[263, :2] - stream.neutral[33, :2]))
    assert travel_px * np.pi / 0.5 / iod > 2 * SHIFT_IOD_PER_S or travel_px == 0.0  # the nod is fast enough
    sp = spotter()
    events = run_spotter(sp, stream)
    assert (len(events) == 1) == found, (events, sp.rejected)
    if not found:
        assert sp.rejected["head_motion"] == 1
        # ... and kept with its frames, so a missed expression is explained (footage score).
        (r,) = sp.rejections
        t_on = stream.t_ms[r.onset]
        assert r.reason == "head_motion" and r.onset <= r.apex <= r.offset and r.peak > 1.0
        assert ONSET_MS - 200.0 <= t_on <= ONSET_MS + 300.0 <= stream.t_ms[r.offset], (t_on, r)


def test_slow_head_drift_that_bends_the_landmarks_is_learnt_and_the_expression_still_found(make_stream) -> None:
    # The landmark model bends the mouth a little as the head turns or tilts (generated footage:
    # 50-80% of the calm variance); the pose fit learns that bend on calm frames, leaves the gates'
    # inputs alone, and a macro expression in the middle of the drift is still found whole.
    stream = make_stream(seconds=28.0, seed=5)
    t = stream.t_ms
    stream.head(yaw=2.5 * np.sin(2 * np.pi * t / 9000.0), pitch=2.0 * np.sin(2 * np.pi * t / 13000.0 + 1.0))
    stream.bend(yaw={"17": 0.1, "23": 0.08}, pitch={"R14": 0.08, "16": 0.1})
    stream.expression({"4": 0.6, "5": 0.5, "7": 0.6, "23": 0.6}, 21000.0, 1500.0, hold_frac=0.4)
    sp = spotter()
    ev = one_event(run_spotter(sp, stream), 120.0, 1500.0, 21000.0)
    assert ev.type == "macro" and ev.emotion == "anger"
    coef = np.abs(sp._measure.pose.coef).max(axis=0)
    bent = [AU_INDEX[a] for a in ("AU17", "AU23", "R14", "AU16")]
    assert (coef[bent] > 0.03).all(), coef.round(3)
    assert not coef[[AU_INDEX[a] for a in GATE_INPUTS]].any()


# -- real faces: long expressions, blinks and talking through them -------------------------------

HAPPY = 3  # FER2013 class index of the emotion CNN


def test_a_smile_held_for_ten_seconds_is_one_macro_event_not_a_new_neutral(make_stream) -> None:
    # Real people hold a smile through a whole answer; the CNN sees it against their neutral.
    stream = make_stream(fps=30.0, seconds=18.0).expression(SMILE, 3000.0, 10000.0, hold_frac=0.8).emotion_cnn(HAPPY)
    ev = one_event(run_spotter(spotter(), stream), 30.0, 10000.0)
    assert ev.type == "macro" and ev.emotion == "happiness"


def test_a_long_excursion_the_cnn_does_not_see_is_a_new_rest(make_stream) -> None:
    # The same displacement with a CNN that stays neutral (a changed posture, a hand on the chin):
    # after HOLD_CHECK_MS it becomes the neutral instead of an endless event.
    stream = make_stream(fps=30.0, seconds=12.0).expression(SMILE, 3000.0, 20000.0, hold_frac=0.9)
    sp = spotter()
    events = run_spotter(sp, stream.emotion_cnn(None))
    assert events == [] and sp.rejected["too_long"] == 1


def test_an_expression_made_while_the_head_rests_somewhere_new_is_found_when_that_rest_is(make_stream) -> None:
    # The head pitches 8 degrees and stays there; the landmark model bends the mouth with it, so the
    # score stays up for HOLD_CHECK_MS with nothing in the CNN and that pose becomes the neutral. A brief
    # brow flash made while it held is measured against the level around it (rescan.py), not dropped.
    stream = make_stream(fps=30.0, seconds=12.0)
    t = stream.t_ms
    stream.head(pitch=8.0 * np.clip((t - 3000.0) / 600.0, 0.0, 1.0)).bend(pitch={"17": 0.12, "23": 0.1, "15": 0.1})
    stream.expression({"1": 0.9, "2": 0.9}, 5500.0, 300.0).emotion_cnn(None)
    sp = spotter()
    events = run_spotter(sp, stream)
    assert sp.rejected["too_long"] >= 1, sp.rejected
    ev = one_event(events, 30.0, 300.0, 5500.0)
    assert ev.type == "micro" and {"AU1", "AU2"} <= set(ev.aus), ev.aus


@pytest.mark.parametrize("recorrect", [False, True])
def test_a_face_resting_away_from_where_its_track_began_and_the_pose_fit(make_stream, recorrect) -> None:
    # The head settles 6 degrees below its first frame and sways 1.5 degrees; the landmark model bends the
    # mouth with it. The pose residual's fit changes the bent estimates by angles x its change: by default
    # (a known defect, docs/spotting.md session 26) that steps them past the neutral, the score stays up
    # for 4 s and the rest is taken anew (too_long); with spotting.pose_recorrect the neutral is corrected
    # with the fit (Baseline.recorrect) and no excursion opens. A flash later is found either way.
    stream = make_stream(fps=30.0, seconds=24.0)
    t = stream.t_ms
    pitch = 6.0 * np.clip(t / 300.0, 0.0, 1.0) + 1.5 * np.sin(2 * np.pi * t / 5000.0)
    stream.head(pitch=pitch).bend(pitch={"17": 0.12, "23": 0.12, "15": 0.12})
    stream.expression({"1": 0.9, "2": 0.9}, 18000.0, 300.0).emotion_cnn(None)
    sp = spotter(pose_recorrect=recorrect)
    ev = one_event(run_spotter(sp, stream), 30.0, 300.0, 18000.0)
    assert ev.type == "micro" and {"AU1", "AU2"} <= set(ev.aus), ev.aus
    if recorrect:
        assert not any(sp.rejected.values()), sp.rejected
    else:
        assert sp.rejected["too_long"] >= 1, sp.rejected


def test_a_smile_still_held_when_the_footage_ends_is_reported_to_the_last_frame(make_stream) -> None:
    stream = make_stream(fps=30.0, seconds=9.0).expression(SMILE, 3000.0, 12000.0, hold_frac=0.8).emotion_cnn(HAPPY)
    events = run_spotter(spotter(), stream)
    assert len(events) == 1, [(e.onset_frame, e.offset_frame) for e in events]
    assert events[0].type == "macro" and events[0].offset_frame == len(stream.t_ms) - 1
    assert abs(events[0].onset_frame - 90) <= 6


def test_blinks_during_a_held_smile_do_not_veto_it(make_stream) -> None:
    # A laugh narrows the eyes and people blink through a smile: the blink masks the eyes, not the mouth.
    stream = make_stream(fps=30.0, seconds=9.0).expression(SMILE, 3000.0, 2500.0, hold_frac=0.6)
    for t in (3700.0, 4400.0):
        stream.expression({"45": 1.0}, t, 250.0)
    sp = spotter()
    ev = one_event(run_spotter(sp, stream.emotion_cnn(HAPPY)), 30.0, 2500.0)
    assert ev.type == "macro" and ev.emotion == "happiness"


@pytest.mark.parametrize("fps", [30.0, 120.0])
def test_a_strong_flash_a_blink_interrupts_is_kept_and_a_weak_one_is_the_blinks(make_stream, fps) -> None:
    # Real people blink during a flash of a smile; the landmark model's blink leak is weak.
    blink_at = ONSET_MS + 150.0
    broad = {"6": 1.5, "12": 1.5}
    strong = make_stream(fps=fps, seconds=5.0).expression(broad, ONSET_MS, 400.0).expression({"45": 1.0}, blink_at, 250.0)
    ev = one_event(run_spotter(spotter(), strong), fps, 400.0)
    assert ev.type == "micro" and ev.emotion == "happiness"
    weak = make_stream(fps=fps, seconds=5.0).expression({"6": 0.12, "12": 0.12}, ONSET_MS, 400.0)
    sp = spotter()
    assert run_spotter(sp, weak.expression({"45": 1.0}, blink_at, 250.0)) == []



@pytest.mark.parametrize("fps", [30.0, 120.0])
def test_a_mouth_leak_that_peaks_as_the_lids_reopen_is_the_blinks(make_stream, fps) -> None:
    # On some faces the landmark model's blink leak into the mouth lags the lids: it rises as they
    # reopen, when the mouth no longer looks quiet and the blink flag has ended. Generated hopper
    # footage (seed 401) reported three such blinks as contempt and anger micro expressions.
    leak = {"L14": 2.0}
    stream = make_stream(fps=fps, seconds=5.0).expression({"45": 1.0}, ONSET_MS, 250.0)
    sp = spotter()
    assert run_spotter(sp, stream.expression(leak, ONSET_MS + 150.0, 250.0)) == []
    # The leak is vetoed as the blink's; where the lids' own stretch before it is judged too (masked.py:
    # the AUs differ), that is a blink as well.
    assert sp.rejected["blink"] >= 1 and {r.reason for r in sp.rejections} == {"blink"}, sp.rejections
    # The same mouth move once the lids are back open is an expression.
    later = make_stream(fps=fps, seconds=5.0).expression({"45": 1.0}, ONSET_MS, 250.0)
    ev = one_event(run_spotter(spotter(), later.expression(leak, ONSET_MS + 600.0, 250.0)), fps, 250.0, ONSET_MS + 600.0)
    assert ev.type == "micro"


def test_lip_pulls_at_syllable_rate_are_speech_after_the_second(make_stream) -> None:
    # On some faces the model pulls the lips sideways as they part, so no opening counts as a
    # syllable and the talking flag stays down (generated hopper s402: one contempt micro event per
    # syllable, six in a row). Micro expressions do not come three in a second.
    stream = make_stream(fps=120.0, seconds=7.0)
    beats = [2500.0 + k * 330.0 for k in range(6)]  # 3 a second
    for t in beats:
        stream.expression({"L14": 1.0}, t, 150.0)
    sp = spotter()
    events = run_spotter(sp, stream)
    assert 1 <= len(events) <= 2, [(e.onset_frame, e.aus) for e in events]
    assert sp.rejected["talking"] >= 4
    assert sum(r.reason == "talking" for r in sp.rejections) == sp.rejected["talking"]  # each with its frames
    # Two lip pulls a second apart are two expressions.
    apart = make_stream(fps=120.0, seconds=7.0).expression({"L14": 1.0}, 2500.0, 150.0).expression({"L14": 1.0}, 3600.0, 150.0)
    assert len(run_spotter(spotter(), apart)) == 2


def test_a_jaw_drop_that_speech_follows_is_dropped_and_recorded_with_its_frames(make_stream) -> None:
    # An event with an open mouth waits TALK_DECIDE_MS for talking to show (TalkHold); two syllables
    # just after it make it speech. The drop is recorded like every other rejection, so a missed
    # expression there is explained ("rejected as talking"), not reported as "no candidate".
    jaw = {"26": 1.0, "25": 1.0}
    stream = make_stream(fps=30.0, seconds=7.0).expression(jaw, ONSET_MS, 300.0)
    for gap in (250.0, 500.0):
        stream.expression({"26": 0.7, "25": 0.7}, ONSET_MS + 300.0 + gap, 150.0)
    sp = spotter()
    assert run_spotter(sp, stream) == []
    talking = [r for r in sp.rejections if r.reason == "talking"]
    assert len(talking) == sp.rejected["talking"] >= 1, (sp.rejected, list(sp.rejections))
    first = min(talking, key=lambda r: r.onset)
    assert stream.t_ms[first.onset] <= ONSET_MS + 50.0 and stream.t_ms[first.offset] >= ONSET_MS + 250.0, first
    assert first.peak > 1.0
    # Alone, the same jaw drop is reported.
    alone = make_stream(fps=30.0, seconds=7.0).expression(jaw, ONSET_MS, 300.0)
    assert len(run_spotter(spotter(), alone)) == 1


def test_a_macro_smile_goes_out_once_nothing_under_way_could_continue_it(make_stream) -> None:
    # MacroChain (continuation.py) holds a macro smile while a detector may still report more of
    # the same laugh; then it goes out, long before the footage ends, and only once.
    stream = make_stream(fps=30.0, seconds=12.0).expression(SMILE, 3000.0, 2000.0, hold_frac=0.5).emotion_cnn(HAPPY)
    sp = spotter()
    out = [(frame.index, ev) for frame, res in stream.frames() for ev in sp.update(frame, res)]
    assert sp.flush() == []
    assert len(out) == 1 and out[0][1].type == "macro" and out[0][1].emotion == "happiness"
    emitted_at, ev = out[0]
    waited_ms = (emitted_at - ev.offset_frame) * 1000.0 / 30.0
    assert 0.0 < waited_ms <= 2000.0, waited_ms


def test_a_macro_smile_held_when_the_timeline_restarts_is_still_reported(make_stream) -> None:
    stream = make_stream(fps=30.0, seconds=12.0).expression(SMILE, 3000.0, 2000.0, hold_frac=0.5).emotion_cnn(HAPPY)
    frames = list(stream.frames())
    sp = spotter()
    events = []
    for frame, res in frames:
        events += sp.update(frame, res)
        if sp._chain._held:  # held now: the clock steps back to the start (a replay restarted)
            events += sp.update(*frames[0])
            break
    assert [(e.type, e.emotion) for e in events] == [("macro", "happiness")]
