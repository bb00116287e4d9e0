"""When the optical flow's neutral reference is renewed, and the baseline's flow neutral with it.

The flow measures each frame against a reference crop of the neutral face. It
is renewed from a few pooled calm frames (at most every second), after speech
once the face is calm again (the mouth rests a little differently), and when
the flow alone holds the score up while the landmarks are calm (drift). A calm
renewal moves the flow part of the baseline by what the renewal frames measured
against the old reference, so the neutral learnt so far stays valid; after talk
and on a drift the face's present rest becomes the neutral instead.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from edge.spotting.baseline import Baseline
from edge.spotting.flow import POOL, FlowChannel

POST_TALK_MS = 150.0  # after talking, the reference is renewed once the landmarks are calm this long


class FlowReference:
    """Renews `channel`'s reference and shifts `baseline` (its flow features start at column `start`)."""

    def __init__(self, channel: FlowChannel, baseline: Baseline, start: int) -> None:
        self.channel = channel
        self._baseline = baseline
        self._start = start
        self._calm_flow: deque[np.ndarray] = deque(maxlen=POOL)
        self._talked = False
        self._quiet_since: float | None = None

    def calm(self, t_ms: float, flow: np.ndarray) -> None:
        """A neutral frame and its flow estimates: pooled; the reference is renewed from the pool when due."""
        self._calm_flow.append(flow)
        if self.channel.calm(t_ms):
            self._renewed(np.mean(self._calm_flow, axis=0))

    def after_talk(self, t_ms: float, talking: bool, busy: bool) -> None:
        """Speech leaves the mouth at a slightly different rest: renew once the face (`busy`: its landmark
        score is up) has been calm for POST_TALK_MS after talking."""
        if talking or busy:
            self._talked = self._talked or talking
            self._quiet_since = None
            return
        if self._quiet_since is None:
            self._quiet_since = t_ms
        if self._talked and t_ms - self._quiet_since >= POST_TALK_MS:
            self.channel.renew(t_ms)
            self._now_at_rest()
            self._talked = False

    def drifted(self, t_ms: float, score: float, landmark_score: float, threshold: float, blinking: bool) -> bool:
        """True when the reference had gone stale and was renewed (FlowChannel.drifted)."""
        if not self.channel.drifted(t_ms, score, landmark_score, threshold, blinking):
            return False
        self._now_at_rest()
        return True

    def _now_at_rest(self) -> None:
        """Renewed on the face as it rests now, which is the neutral from here on. Shifting by what
        this frame measured against the old reference, as a calm renewal does, would carry a stale
        deviation over: the drift would renew again and again, dropping every excursion (a neutral
        learnt while the subject talked once did that to a whole clip)."""
        self._renewed(self._baseline.median[self._start:].copy())

    def _renewed(self, old_flow: np.ndarray) -> None:
        """Renewed from frames whose flow against the old reference was `old_flow`: the flow
        estimates now start from there, and so must their neutral."""
        self._calm_flow.clear()
        self._baseline.shift(self._start, old_flow)
