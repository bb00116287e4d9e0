"""Flashes: one action (the brows, the lip corners) rising quickly above its own recent level and falling back.

Why a third detector: on real faces the two commonest brief expressions are a brow flash
(AU1+AU2) and a quick smile (AU12), and the other detectors miss many of them. The excursion
spotter measures from a neutral face that a talking person seldom shows; the emotion CNN
(FER2013) reads surprise from the mouth, not the brows, and sees a faint or closed-lip smile only
weakly. An action's own recent past is a fair resting level even while the person talks: the
20th percentile of its landmark estimate over the last WINDOW_MS.

A flash starts when the action's estimate (the mean of its AUs, IOD) rises `start` above that
resting level, and clearly above the estimate's own frame-to-frame noise (NOISE_K times it, for
small or blurred faces). Its extent is where the rise stays above SHARE of its peak, measured from
the resting level frozen at the start; a dip under that shorter than DIP_MS (one frame of a 24-30
fps clip) is a landmark glitch and does not end it, and a weaker rise of the same action starting
within REBOUND_MS after a flash was reported is that flash's tail (the brows coming down unevenly),
not a second expression. Longer than `max_ms` it is a held expression, not a flash
(the CNN episodes or the excursion spotter report those). Each channel has its own corroboration:

* brows (surprise): not while the CNN's happiness is up, since brows raised in a laugh are the laugh's;
* lip corners (happiness): the CNN's happiness rose SMILE_RISE over this person's usual level
  somewhere in it or just before, and the person was not talking for most of it (speech moves
  the corners too). A rise, not a level: the CNN reads some faces as happy all the time.

The settings were chosen on the eight annotated real clips (docs/spotting.md, "Flashes"); plain
numpy on the spotter's samples, no camera stack.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from edge.spotting.candidate import Sample
from edge.spotting.features import AU_INDEX

WINDOW_MS = 2000.0  # an action's resting level: over this much of the recent past
WARM_MS = 800.0  # ... usable once this much of it is there: a clip's first second is left out of the annotations, not two
QUANTILE = 20.0  # ... its 20th percentile (an action held for half of it does not become the rest)
RECOMPUTE_MS = 100.0  # the resting level and the noise are recomputed at most this often (a 2 s level hardly moves in it)
NOISE_K = 8.0  # a flash rises at least this many times the estimate's frame-to-frame noise
SHARE = 0.4  # the extent: while the rise stays above this share of its peak
BACK_MS = 1000.0  # the onset is looked for at most this far before the start
MIN_MS = 40.0  # shorter than the shortest micro expression (1/25 s) is a landmark glitch
DIP_MS = 50.0  # a dip below SHARE shorter than this (one frame at 20-30 fps) is a glitch too: the flash goes on
REBOUND_MS = 250.0  # a weaker flash of the same action starting this soon after one reported is its tail
HAPPY_RISE = 0.5  # brows: the CNN's happiness this far above its usual level makes them the laugh's
SMILE_RISE = 0.1  # lip corners: the CNN's happiness rises this far over usual in (or just before) the flash
TALK_SHARE = 0.5  # lip corners: talking on more than this share of the frames makes them speech's


@dataclass(frozen=True)
class Channel:
    """One action a flash is looked for in."""

    name: str
    emotion: str  # what its flash is reported as
    aus: tuple[str, ...]  # its estimate is their mean
    start: float  # IOD above the resting level that starts a flash
    max_ms: float  # longer is a held expression

    @property
    def rows(self) -> list[int]:
        return [AU_INDEX[a] for a in self.aus]


BROWS = Channel("brows", "surprise", ("AU1", "AU2"), start=0.02, max_ms=2000.0)  # AU1/AU2's full scale
CORNERS = Channel("corners", "happiness", ("R12", "L12"), start=0.03, max_ms=6000.0)
CHANNELS = (BROWS, CORNERS)


@dataclass
class Flash:
    """One flash: its frames from onset to offset and how far the action rose (IOD)."""

    channel: Channel
    samples: list[Sample]
    rises: list[float]

    @property
    def emotion(self) -> str:
        return self.channel.emotion

    @property
    def apex(self) -> int:
        return int(np.argmax(self.rises))

    @property
    def peak(self) -> float:
        return float(self.rises[self.apex])

    @property
    def onset(self) -> Sample:
        return self.samples[0]

    @property
    def offset(self) -> Sample:
        return self.samples[-1]

    def duration_ms(self) -> float:
        return self.offset.t_ms - self.onset.t_ms


def estimates(s: Sample) -> np.ndarray:
    """The landmark AU estimates before the pose residual (IOD): each action's own rest absorbs slow pitch."""
    return s.estimates if s.estimates is not None else s.disp


@dataclass
class _Open:
    frames: list[tuple[Sample, float]]  # from BACK_MS before the start on: (sample, action estimate)
    start: int  # the frame that started it
    base: float  # the resting level then (frozen)
    peak: float
    happy_rise: float = 0.0  # the most the CNN's happiness rose over usual since the start
    happy_before: float = 0.0  # ... and over the BACK_MS before it
    dip_ms: float = 0.0  # how long the action has been below SHARE of the peak (frames x their periods)
    below: int = 0  # ... in frames


@dataclass
class _State:
    channel: Channel
    rest: float = 0.0
    noise: float = 0.0
    open: _Open | None = None
    last: tuple[float, float] | None = None  # the last flash reported: (offset time, peak)


class ActionFlashes:
    """Streaming: `update(sample, happy_rise)` on every frame with a face; returns the flashes that ended."""

    def __init__(self, channels: tuple[Channel, ...] = CHANNELS) -> None:
        self._states = [_State(c) for c in channels]
        self._mean = np.zeros((len(channels), len(AU_INDEX)))  # each channel's estimate: one product per frame
        for i, c in enumerate(channels):
            self._mean[i, c.rows] = 1.0 / len(c.rows)
        self._recent: deque[tuple[Sample, float]] = deque()  # the last WINDOW_MS: (sample, happy rise)
        self._heights: deque[np.ndarray] = deque()  # ... and each channel's estimate on it
        self._first_ms: float | None = None
        self._rest_ms = -np.inf

    def reset(self) -> None:
        self.__init__(tuple(st.channel for st in self._states))

    def update(self, s: Sample, happy_rise: float = 0.0) -> list[Flash]:
        """`happy_rise`: how far the CNN's happiness is over this person's usual level now."""
        if self._first_ms is None:
            self._first_ms = s.t_ms
        heights = self._mean @ estimates(s)
        self._recent.append((s, happy_rise))
        self._heights.append(heights)
        while self._recent[0][0].t_ms < s.t_ms - WINDOW_MS:  # BACK_MS <= WINDOW_MS: the onset's reach is in here
            self._recent.popleft()
            self._heights.popleft()
        self._learn(s.t_ms)
        warm = s.t_ms - self._first_ms >= WARM_MS
        out: list[Flash] = []
        for i, st in enumerate(self._states):
            h = float(heights[i])
            if st.open is not None:
                out += self._follow(st, s, h, happy_rise)
            elif warm and h - st.rest >= max(st.channel.start, NOISE_K * st.noise):
                back = [(x, float(hx[i]), r) for (x, r), hx in zip(self._recent, self._heights)
                        if x.t_ms >= s.t_ms - BACK_MS]
                st.open = _Open([(x, hx) for x, hx, _ in back], len(back) - 1, st.rest, h - st.rest, happy_rise,
                                max(r for _, _, r in back))
        return out

    def flush(self) -> list[Flash]:
        """End of stream or face lost: a flash under way ends at its last frame."""
        out: list[Flash] = []
        for st in self._states:
            if st.open is not None:
                out += self._close(st, len(st.open.frames) - 1 - st.open.below)
        return out

    # -- internals ------------------------------------------------------------------

    def _learn(self, t_ms: float) -> None:
        """Every channel's resting level and noise over the window (a channel with a flash open keeps
        the level frozen at its start in `_Open.base`, so updating its `rest` meanwhile is harmless)."""
        if t_ms - self._rest_ms < RECOMPUTE_MS:
            return
        heights = np.array(self._heights)
        rest = np.percentile(heights, QUANTILE, axis=0)
        noise = np.zeros(len(self._states))
        if len(heights) > 5:
            step = np.diff(heights, axis=0)
            noise = 1.4826 * np.median(np.abs(step - np.median(step, axis=0)), axis=0) / np.sqrt(2.0)
        for i, st in enumerate(self._states):
            st.rest, st.noise = float(rest[i]), float(noise[i])
        self._rest_ms = t_ms

    def _follow(self, st: _State, s: Sample, h: float, happy_rise: float) -> list[Flash]:
        op = st.open
        assert op is not None
        op.frames.append((s, h))
        op.peak = max(op.peak, h - op.base)
        op.happy_rise = max(op.happy_rise, happy_rise)
        if s.t_ms - op.frames[op.start][0].t_ms > st.channel.max_ms:
            st.open = None  # held: not a flash (its rest catches up with it within WINDOW_MS)
            return []
        if h - op.base >= SHARE * op.peak:
            op.dip_ms, op.below = 0.0, 0
            return []
        op.dip_ms += s.t_ms - op.frames[-2][0].t_ms
        op.below += 1
        if op.dip_ms < DIP_MS:
            return []
        return self._close(st, len(op.frames) - 1 - op.below)

    @staticmethod
    def _close(st: _State, last: int) -> list[Flash]:
        """The flash from the earliest frame still above SHARE of the peak (before the start) to `last`."""
        op, st.open = st.open, None
        if op is None:
            return []
        level = op.base + SHARE * op.peak
        first = op.start
        while first > 0 and op.frames[first - 1][1] >= level:
            first -= 1
        span = op.frames[first:last + 1]
        if not span:
            return []
        flash = Flash(st.channel, [x for x, _ in span], [hx - op.base for _, hx in span])
        if not MIN_MS <= flash.duration_ms() <= st.channel.max_ms or not _corroborated(flash, op):
            return []
        if st.last is not None and flash.onset.t_ms - st.last[0] <= REBOUND_MS and flash.peak <= st.last[1]:
            return []  # the action rebounding after the flash just reported, not a new expression
        st.last = (flash.offset.t_ms, flash.peak)
        return [flash]


def _corroborated(flash: Flash, op: _Open) -> bool:
    """The channel's own check that the flash is an expression (module docstring)."""
    if flash.channel.name == "brows":
        return op.happy_rise < HAPPY_RISE
    talking = sum(x.talking for x in flash.samples) / len(flash.samples)
    return max(op.happy_rise, op.happy_before) >= SMILE_RISE and talking <= TALK_SHARE
