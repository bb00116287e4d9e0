"""The pipelined loop (vision.loop = "pipelined") against the serial one on the HIL footage.

Tolerance: none. The pipelined loop's spotting stage replays, in frame order, exactly the
steps the serial loop takes around the landmark model (the emotion CNN's schedule and crop from
the previous frame's landmarks, the spotter's flow from the same guide, head pose), so every
number the spotter sees is the serial loop's, and the events must be equal field by field,
confidence and scores included, as must every frame's spotting reading (score and gate flags). Each clip runs through both loops with two threads (the stage
threads exist even where this machine has one usable core).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.config import load_config
from edge.loop.frames import make_loop
from edge.sources.video import VideoFileSource

pytestmark = [pytest.mark.hil, pytest.mark.slow]


def _events(path: Path, mode: str) -> tuple[int, list[tuple], list]:
    from edge.analysis import make_spotter
    from edge.vision.pipeline import FacePipeline

    cfg = load_config(environ={})
    pipeline = FacePipeline.from_config(cfg.vision)
    spotter = make_spotter(cfg, pipeline)
    loop = make_loop(mode, pipeline, spotter, workers=2)
    indices: list[int] = []
    events = []
    readings = []
    try:
        with VideoFileSource(path, realtime=False) as src:
            for frame in src.frames():
                for d in loop.put(frame):
                    indices.append(d.frame.index)
                    events.extend(d.events)
                    readings.append(d.reading)
        for d in loop.close():
            indices.append(d.frame.index)
            events.extend(d.events)
            readings.append(d.reading)
        loop.check()
        events.extend(spotter.flush())
    finally:
        pipeline.close()
    assert indices == list(range(len(indices))), f"{mode}: frames lost or reordered"
    rows = [(e.onset_frame, e.apex_frame, e.offset_frame, e.type, e.emotion, e.confidence, e.scores, e.aus,
             e.head_pose, e.duration_ms) for e in events]
    return len(indices), rows, readings


def _same(path: Path) -> None:
    n_serial, serial, read_serial = _events(path, "serial")
    n_pipe, pipelined, read_pipe = _events(path, "pipelined")
    assert n_pipe == n_serial > 0
    assert pipelined == serial, f"{path.name}: pipelined events differ from the serial loop's"
    # Every frame's score and gate flags too, not only the decisions they led to.
    assert sum(r is not None for r in read_serial) > 0
    assert read_pipe == read_serial, f"{path.name}: pipelined spotting readings differ from the serial loop's"


@pytest.mark.parametrize("clip", ["synth_expressions_clip", "interview_clip", "synth_neutral_distractors_clip"])
def test_pipelined_loop_spots_the_serial_loops_events_on_generated_footage(clip, request):
    _same(Path(request.getfixturevalue(clip).video))


def test_pipelined_loop_spots_the_serial_loops_events_on_real_footage(real_footage):
    names = real_footage.names()
    assert names
    for name in names:
        _same(real_footage.path(name))
