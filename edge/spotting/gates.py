"""Which AU changes may start an event on a frame: blinks, talking and head motion out.

A blink moves the eyelids (and a landmark model drags the lower lid and cheek
with them); talking moves the jaw, the lips and the lip corners; a quick head
turn leaves a transient residual after alignment. None of these is an
expression, so while one is under way the features it contaminates are masked
out of the spotting score, and events that only those features explain are
rejected.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from edge.spotting.features import AU_INDEX, AU_NAMES

# Never start an event on their own: lips part and jaw drop follow speech,
# eye closure is a blink.
NEVER_ALONE = ("AU25", "AU26", "AU45")
# Eye-region estimates a blink drags along.
EYE_AUS = ("AU5", "AU6", "AU7")
# Mouth estimates that follow a jaw opening or articulation.
JAW_COUPLED = ("AU10", "AU15", "AU16", "AU17", "AU20", "AU23", "R12", "L12", "R14", "L14")


def mask(names: tuple[str, ...]) -> np.ndarray:
    m = np.zeros(len(AU_NAMES), dtype=bool)
    m[[AU_INDEX[n] for n in names]] = True
    return m


class TalkDetector:
    """Flags talking: repeated jaw/lip openings within a short time window.

    One isolated mouth opening is not talking (surprise and fear open the jaw);
    two or more rises of the lips-part / jaw-drop estimate above `open_z` within
    `window_ms` are, and the flag holds for `hold_ms` after the last one.
    """

    def __init__(self, open_z: float = 3.0, window_ms: float = 1500.0, hold_ms: float = 800.0) -> None:
        self.open_z = open_z
        self.window_ms = window_ms
        self.hold_ms = hold_ms
        self._rises: deque[float] = deque()
        self._open = False
        self._until = -np.inf
        self._i25 = AU_INDEX["AU25"]
        self._i26 = AU_INDEX["AU26"]

    def reset(self) -> None:
        self._rises.clear()
        self._open = False
        self._until = -np.inf

    def update(self, t_ms: float, z: np.ndarray) -> bool:
        """Feed one frame's z-scores; True while talking."""
        opening = max(z[self._i25], z[self._i26])
        is_open = opening > self.open_z if not self._open else opening > self.open_z * 0.5
        if is_open and not self._open:
            self._rises.append(t_ms)
        self._open = is_open
        while self._rises and self._rises[0] < t_ms - self.window_ms:
            self._rises.popleft()
        if len(self._rises) >= 2:
            self._until = t_ms + self.hold_ms
        return t_ms <= self._until

    @property
    def mouth_open(self) -> bool:
        return self._open


class Gates:
    """Per-frame eligibility mask of the AU estimates that may drive the spotting score."""

    def __init__(self, blink_iod: float = 0.035) -> None:
        self.blink_iod = blink_iod
        self.talk = TalkDetector()
        self._base = ~mask(NEVER_ALONE)
        self._eye = mask(EYE_AUS)
        self._jaw = mask(JAW_COUPLED)
        self._i45 = AU_INDEX["AU45"]
        self.blinking = False
        self.talking = False

    def reset(self) -> None:
        self.talk.reset()
        self.blinking = False
        self.talking = False

    def update(self, t_ms: float, z: np.ndarray, disp: np.ndarray) -> np.ndarray:
        """Eligibility mask for this frame from its z-scores and displacements (IOD)."""
        m = self._base.copy()
        # A blink narrows the eye by most of its opening (~0.1 IOD); lid tightening
        # (AU7) or a cheek raise (AU6) by a fraction of that.
        self.blinking = bool(disp[self._i45] > self.blink_iod)
        if self.blinking:
            m &= ~self._eye
        self.talking = self.talk.update(t_ms, z)
        if self.talking or self.talk.mouth_open:
            m &= ~self._jaw
        return m
