"""What the spotter read on one frame: its score and which nuisance gates were on.

Events say what the spotter decided; a reading per frame says how close every
other frame came, and why a score was discounted there. Two runs of the same
footage (as fetched and re-encoded, serial and pipelined) are compared frame by
frame on these (evaluation/agreement.py), and a sink can keep them as a trace.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Reading:
    """One frame's spotting score (robust sigmas, 0 while the neutral is still being learnt) and gate flags."""

    index: int
    score: float
    blink: bool
    talking: bool
    lids_down: bool

    @classmethod
    def of(cls, sample: Any) -> "Reading":
        """From a spotter Sample (candidate.Sample)."""
        return cls(int(sample.index), float(sample.score), bool(sample.blink), bool(sample.talking),
                   bool(sample.lids_down))
