"""The sinks the analysis loop feeds: every frame's result, the spotter's reading of it, and the events."""

from __future__ import annotations

import json

from edge.analysis import analyse_video
from edge.config import load_config
from edge.sinks import ReadingsSink, ResultsJsonlSink, Sink


class Order(Sink):
    """Records the hooks in the order they are called."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def on_result(self, frame, res) -> None:
        self.calls.append(("result", res.frame_index))

    def on_reading(self, frame, reading) -> None:
        self.calls.append(("reading", reading.index))


def test_each_frame_line_carries_the_spotters_reading_of_it(head_motion_clip, tmp_path):
    out = tmp_path / "frames.jsonl"
    readings, order = ReadingsSink(), Order()
    analyse_video(head_motion_clip, load_config(environ={}), sinks=[ResultsJsonlSink(out), readings, order])
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["frame"] for x in lines] == list(range(60))
    spot = {x["frame"]: x["spot"] for x in lines if "spot" in x}
    # The tracker settles on the face first (100 ms); from then on every frame is measured.
    assert len(readings.readings) >= 55 and sorted(spot) == [r.index for r in readings.readings]
    for r in readings.readings:
        assert spot[r.index] == {"score": round(r.score, 3), "blink": r.blink, "talking": r.talking,
                                 "lids_down": r.lids_down}
    assert any(r.score > 0 for r in readings.readings)  # the neutral is learnt within the clip's 2 s
    # A frame's reading always follows its own result, before the next frame's.
    for i, call in enumerate(order.calls):
        if call[0] == "reading":
            assert order.calls[i - 1] == ("result", call[1])
