"""A micro expression masked by another before the face is back at rest (masked.py)."""

from __future__ import annotations

import numpy as np
import pytest

from edge.spotting.candidate import Sample
from edge.spotting.masked import distinct

from .conftest import run_spotter
from .test_spotter import spotter

BROWS = {"1": 0.5, "2": 0.5}  # a flash of surprise
MASK = {"6": 1.0, "12": 1.0}  # the smile put over it


def sample(z: list[float] | None) -> Sample:
    return Sample(0.0, 0, 0, 9.0, np.zeros(3), np.eye(3), 0.0, False, None, None, 0.0,
                  z=None if z is None else np.array(z, dtype=float))


def test_distinct_asks_for_other_action_units_not_another_intensity() -> None:
    assert distinct(sample([5, 5, 0, 0]), sample([0, 0, 9, 9]))
    assert not distinct(sample([5, 5, 0, 0]), sample([10, 9, 1, 0]))  # the same AUs, stronger
    assert not distinct(sample([5, 5, 0, 0]), sample([0, 0, 0, 0]))  # nothing to compare with
    assert not distinct(sample(None), sample([0, 0, 9, 9]))


@pytest.mark.parametrize("fps", [30.0, 120.0])
@pytest.mark.parametrize("gap_ms", [100.0, 150.0])
def test_a_flash_masked_by_a_smile_is_reported_before_the_smile(make_stream, fps, gap_ms) -> None:
    # The brows rise for 250 ms; the smile starts 100-150 ms in, before they are down, so the score
    # never falls between the two and they make one excursion around the smile's apex.
    onset = 3000.0
    stream = make_stream(fps=fps, seconds=6.0).expression(BROWS, onset, 250.0).expression(MASK, onset + gap_ms, 600.0)
    sp = spotter()
    events = run_spotter(sp, stream)
    assert len(events) == 2, [(e.type, e.onset_frame, e.offset_frame, e.aus) for e in events]
    flash, mask = events
    assert flash.type == "micro" and {"AU1", "AU2"} <= set(flash.aus) and "AU12" not in flash.aus, flash.aus
    assert "AU12" in mask.aus and flash.offset_frame < mask.onset_frame
    first = int(np.floor(onset * fps / 1000))
    assert abs(flash.onset_frame - first) <= max(2, fps * 0.03), (flash.onset_frame, first)
    assert sp.rejected["merged"] == 0  # judged, so nothing of it left unjudged


def test_a_smile_that_grows_in_two_steps_stays_one_event(make_stream) -> None:
    stream = make_stream(fps=120.0, seconds=6.0).expression({"6": 0.4, "12": 0.4}, 3000.0, 300.0)
    events = run_spotter(spotter(), stream.expression(MASK, 3100.0, 600.0))
    assert len(events) == 1 and "AU12" in events[0].aus, [(e.onset_frame, e.aus) for e in events]
