"""The emotion episodes inside the streaming spotter: reported where the AU spotter saw nothing,
dropped where it reported the same expression (one expression, one event)."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest

from edge.config import SpottingConfig
from edge.spotting.spotter import Spotter

from .conftest import smooth_bump

FPS = 30.0


def spotter() -> Spotter:
    return Spotter(SpottingConfig(), clock=lambda: datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc))


def cnn_rise(t_ms: np.ndarray, label: int, onset_ms: float, duration_ms: float) -> np.ndarray:
    """The CNN's softmax on every frame: neutral, class `label` rising 0.8 with a held bump."""
    env = smooth_bump(t_ms, onset_ms, duration_ms, 0.6)
    out = np.zeros((len(t_ms), 7))
    out[:, 6], out[:, :6] = 0.9, 0.02
    out[:, label] += 0.8 * env
    out[:, 6] -= 0.8 * env
    return out


def with_cnn_every(stream, cnn: np.ndarray, every: int = 4):
    """The stream's frames, the CNN output attached on every `every`-th frame only."""
    for frame, res in stream.frames():
        res.emotion = cnn[frame.index] if frame.index % every == 0 else None
        yield frame, res


def test_a_smile_only_the_cnn_sees_is_one_macro_happiness_event(make_stream) -> None:
    stream = make_stream(fps=FPS, seconds=12.0)  # the landmarks stay neutral (talking-face stand-in)
    cnn = cnn_rise(stream.t_ms, 3, onset_ms=5000.0, duration_ms=3000.0)
    sp = spotter()
    events = [e for f, r in with_cnn_every(stream, cnn) for e in sp.update(f, r)] + sp.flush()
    assert [(e.type, e.emotion) for e in events] == [("macro", "happiness")]
    ev = events[0]
    # The CNN's rise of 0.5 and more: the held middle of the 3 s bump, well inside it.
    assert 5000.0 * FPS / 1000 <= ev.onset_frame < ev.apex_frame < ev.offset_frame <= 8000.0 * FPS / 1000
    assert ev.duration_ms >= 1000.0
    assert ev.onset_utc.startswith("2026-01-02T03:04:")


def test_a_smile_the_au_spotter_reports_is_not_reported_twice(make_stream) -> None:
    cnn = cnn_rise(make_stream(fps=FPS, seconds=12.0).t_ms, 3, onset_ms=5000.0, duration_ms=2000.0)
    control, sp = make_stream(fps=FPS, seconds=12.0), spotter()  # the same CNN output alone makes an episode
    alone = [e for f, r in with_cnn_every(control, cnn) for e in sp.update(f, r)] + sp.flush()
    assert [(e.type, e.emotion) for e in alone] == [("macro", "happiness")]
    assert not {"AU6", "AU12"} & set(alone[0].aus)  # neutral landmarks: the episode names no smile AUs
    stream = make_stream(fps=FPS, seconds=12.0).expression({"6": 0.8, "12": 0.8}, 5000.0, 2000.0, 0.4)
    sp = spotter()
    events = [e for f, r in with_cnn_every(stream, cnn) for e in sp.update(f, r)] + sp.flush()
    assert len(events) == 1, [(e.type, e.emotion, e.onset_frame, e.offset_frame) for e in events]
    assert events[0].emotion == "happiness"
    # The AU spotter's event, which names the AUs; the episode's would carry none here (see the control).
    assert {"AU6", "AU12"} <= set(events[0].aus)


@pytest.mark.parametrize("lost_s", [0.5, 2.0])
def test_an_episode_under_way_when_the_face_is_lost_is_still_reported(make_stream, lost_s) -> None:
    stream = make_stream(fps=FPS, seconds=12.0)
    cnn = cnn_rise(stream.t_ms, 5, onset_ms=5000.0, duration_ms=3000.0)
    sp, events = spotter(), []
    lost_from = int(7.0 * FPS)
    for frame, res in with_cnn_every(stream, cnn):
        if lost_from <= frame.index < lost_from + lost_s * FPS:
            res.face, res.landmarks = False, None
        events += sp.update(frame, res)
    events += sp.flush()
    assert [(e.type, e.emotion) for e in events] == [("macro", "surprise")]
    assert events[0].offset_frame < lost_from


def test_a_brow_raise_the_au_spotter_reports_is_not_reported_again_as_a_flash(make_stream) -> None:
    stream = make_stream(fps=FPS, seconds=10.0).expression({"1": 1.5, "2": 1.5}, 5000.0, 800.0, 0.3)
    sp = spotter()
    flashes = []
    update = sp._side.flashes.update

    def seen(*a, **kw):  # the flash detector does see the raise (the control)
        out = update(*a, **kw)
        flashes.extend(out)
        return out

    sp._side.flashes.update = seen
    events = [e for f, r in stream.frames() for e in sp.update(f, r)] + sp.flush()
    assert [f.channel.name for f in flashes] == ["brows"]
    assert len(events) == 1, [(e.type, e.emotion, e.onset_frame, e.offset_frame) for e in events]
    assert {"AU1", "AU2"} <= set(events[0].aus)
