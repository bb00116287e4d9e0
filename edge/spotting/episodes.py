"""Macro expressions the emotion CNN sees: one class's probability rising well above this person's usual level.

Why a second detector beside the AU excursions: on real faces the excursion spotter
seldom sees a neutral face to measure from. People talk through their expressions,
move their heads and hold a smile for half a minute, so the landmark and flow
estimates sit many noise units off most of the time and one excursion swallows
several expressions (docs/spotting.md, "Real faces"). The emotion CNN was trained
on real faces: a broad smile, a laugh, a gasp of surprise move its output whether
or not the mouth is talking, and its output falls back when the expression ends.

The level an expression is measured from is the 20th percentile of each class's
probability over the last minute, outside episodes (a low percentile, so a smile held
for most of a minute does not become the person's "usual"; outside episodes, so
neither does a posed smile held long after a second of neutral face); an episode
starts when one class rises START above it and lasts while that class stays STAY
above it and above END_SHARE of its own peak so far (a laugh that falls most of the
way back has ended; annotators mark the next intensification as a new episode). Gaps
shorter than MERGE_MS within one emotion are bridged (a laugh's breaths), and an
episode shorter than MIN_MS is not one: the CNN runs every few frames and its
single-frame jumps are noise; micro expressions are the AU spotter's job.

FER2013's "fear" answers raised brows over an open mouth, which on every real clip
here was surprise: the two classes form one channel named surprise (fear still
comes from the AU prototypes of the excursion spotter). There is no contempt class.
Plain numpy on the spotter's samples; no camera stack.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from edge.spotting.candidate import Sample
from edge.spotting.features import AU_INDEX, AU_NAMES

WINDOW_MS = 60_000.0  # the person's usual level: over the last minute of CNN outputs
QUANTILE = 20.0  # ... its 20th percentile (a long smile must not become "usual")
START = 0.5  # a class probability this far above its usual level starts an episode
STAY = 0.1  # ... which lasts while the strongest rise stays above this
END_SHARE = 0.35  # ... and above this share of its own peak so far (a laugh that falls back most of the way has ended)
MERGE_MS = 500.0  # a dip shorter than this inside one emotion does not end it
MIN_MS = 500.0  # shorter is noise (or a micro expression: the AU spotter's)
WARMUP_MS = 800.0  # the usual level needs this much footage first (a posed clip's expression may start at 1 s)
RECOMPUTE_MS = 100.0  # the usual level is recomputed at most this often
MIN_CALM = 5  # CNN outputs outside episodes the usual level needs (else it is taken from all of them)
EXTEND_MS = 2000.0  # onset and offset follow the channel's action units at most this far beyond the CNN's
EXTEND_SHARE = 0.5  # ... while they stay above this share of their rise at the apex
MIN_AU_RISE = 0.004  # IOD; a channel whose AUs rose less than this (5 landmark noise floors) keeps the CNN's extent

# FER2013 output order: angry, disgust, fear, happy, sad, surprise, neutral.
CHANNEL_EMOTION: tuple[str, ...] = ("anger", "disgust", "surprise", "happiness", "sadness")
CHANNEL_AUS: tuple[tuple[str, ...], ...] = (  # what each channel's expression moves (EMFACS)
    ("AU4",), ("AU9", "AU10"), ("AU1", "AU2", "AU26"), ("R12", "L12", "AU6"), ("AU1", "AU4", "AU15"),
)
HAPPY = CHANNEL_EMOTION.index("happiness")
_FOLD = np.array([[1, 0, 0, 0, 0], [0, 1, 0, 0, 0], [0, 0, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1],
                  [0, 0, 1, 0, 0], [0, 0, 0, 0, 0]], dtype=np.float64)  # 7 CNN classes -> 5 channels


@dataclass
class Episode:
    """One emotion episode: its CNN samples (the spotter's Samples that carry a CNN output)."""

    channel: int
    samples: list[Sample] = field(default_factory=list)
    rises: list[np.ndarray] = field(default_factory=list)  # per sample: each channel's rise over usual
    last_above_ms: float = 0.0  # last sample whose rise stayed up (above STAY and END_SHARE of the peak)
    top: float = 0.0  # the channel's highest rise so far
    first: Sample | None = None  # the extent, once the action units have widened it (else the CNN samples')
    last: Sample | None = None
    level: float = 0.0  # the channel's AU level the extent follows

    @property
    def emotion(self) -> str:
        return CHANNEL_EMOTION[self.channel]

    @property
    def apex(self) -> int:
        """Index of the sample where the episode's own channel rose most."""
        return int(np.argmax([r[self.channel] for r in self.rises]))

    @property
    def peak(self) -> float:
        return float(self.rises[self.apex][self.channel])

    @property
    def onset(self) -> Sample:
        return self.first or self.samples[0]

    @property
    def offset(self) -> Sample:
        return self.last or self.samples[-1]

    def duration_ms(self) -> float:
        return self.offset.t_ms - self.onset.t_ms


_CHANNEL_MEAN = np.zeros((len(CHANNEL_AUS), len(AU_NAMES)))  # one product per frame, not a Python loop
for _c, _aus in enumerate(CHANNEL_AUS):
    _CHANNEL_MEAN[_c, [AU_INDEX[a] for a in _aus]] = 1.0 / len(_aus)


def channel_aus(disp: np.ndarray) -> np.ndarray:
    """Per channel, the mean landmark displacement of the action units its expression moves."""
    return _CHANNEL_MEAN @ disp


class EmotionEpisodes:
    """Streaming: `update(sample)` on every frame, returns the episodes that ended."""

    def __init__(self) -> None:
        self._history: deque[tuple[float, np.ndarray, bool]] = deque()  # (t_ms, 5 channels, in an episode)
        self._usual: np.ndarray | None = None
        self._usual_ms = -np.inf
        self._first_ms: float | None = None
        self._open: Episode | None = None
        self._levels: deque[tuple[float, np.ndarray]] = deque()  # every frame of the last minute: its channel AUs
        self._frames: deque[tuple[Sample, np.ndarray]] = deque()  # the frames an extent may still reach
        self._finishing: list[Episode] = []  # closed by the CNN, the offset still following the AUs
        self.rise: np.ndarray | None = None  # each channel's rise over usual at the last CNN output

    def reset(self) -> None:
        self.__init__()

    def update(self, s: Sample) -> list[Episode]:
        """Feed one frame's sample (its CNN output may be None: nothing to learn from it)."""
        if self._first_ms is None:
            self._first_ms = s.t_ms
        v = channel_aus(s.disp)
        self._levels.append((s.t_ms, v))
        while self._levels[0][0] < s.t_ms - WINDOW_MS:
            self._levels.popleft()
        self._frames.append((s, v))  # from EXTEND_MS before the open episode (or now) on: bounded memory
        since = (self._open.samples[0].t_ms if self._open is not None else s.t_ms) - EXTEND_MS
        while self._frames[0][0].t_ms < since:
            self._frames.popleft()
        done = self._follow(s)
        ep = self._open
        if ep is not None and s.t_ms - ep.last_above_ms > MERGE_MS:
            self._close()
        if s.emotion is None:
            return done
        ch = np.asarray(s.emotion, dtype=np.float64) @ _FOLD
        self._learn(s.t_ms, ch)
        if self._usual is None or s.t_ms - self._first_ms < WARMUP_MS:
            return done
        rise = self.rise = ch - self._usual
        best = int(np.argmax(rise))
        ep = self._open
        if ep is None:
            if rise[best] >= START:
                self._start(best, s, rise)
            return done
        if rise[ep.channel] >= max(STAY, END_SHARE * ep.top):
            ep.top = max(ep.top, float(rise[ep.channel]))
            ep.samples.append(s)
            ep.rises.append(rise)
            ep.last_above_ms = s.t_ms
        elif rise[best] >= START:  # another emotion took over at once (crying into surprise)
            self._close()
            self._start(best, s, rise)
        return done

    def busy_from(self) -> int | None:
        """The earliest frame an episode under way may still cover (None: none is under way)."""
        frames = [ep.onset.index for ep in self._finishing]
        if self._open is not None:
            frames.append(self._frames[0][0].index)  # its onset may still move back this far
        return min(frames, default=None)

    def happy_rise(self) -> float:
        """How far the CNN's happiness is over its usual level now (0 before it is known)."""
        return float(self.rise[HAPPY]) if self.rise is not None else 0.0

    def _start(self, channel: int, s: Sample, rise: np.ndarray) -> None:
        self._open = Episode(channel, [s], [rise], s.t_ms, top=float(rise[channel]))

    def flush(self) -> list[Episode]:
        """End of stream or face lost: the episode under way ends at its last sample that stayed up."""
        self._close()
        done, self._finishing = self._finishing, []
        return done

    def _close(self) -> None:
        """The CNN says the episode is over: widen its onset along its action units and let its offset
        follow them (`_follow`); too short an episode is dropped."""
        ep, self._open = self._open, None
        if ep is None:
            return
        keep = [i for i, s in enumerate(ep.samples) if s.t_ms <= ep.last_above_ms]
        ep.samples = [ep.samples[i] for i in keep]
        ep.rises = [ep.rises[i] for i in keep]
        if not ep.samples or ep.duration_ms() < MIN_MS:
            return
        t_on, t_off, ch = ep.samples[0].t_ms, ep.samples[-1].t_ms, ep.channel
        frames = list(self._frames)
        before = np.array([v[ch] for t, v in self._levels if t <= t_on])
        inside = [v[ch] for s, v in frames if t_on <= s.t_ms <= t_off]
        base = float(np.percentile(before, QUANTILE)) if len(before) else 0.0
        if len(before) and inside and max(inside) - base >= MIN_AU_RISE:
            ep.level = base + EXTEND_SHARE * (max(inside) - base)
            for s, v in reversed([f for f in frames if f[0].t_ms < t_on]):
                if v[ch] < ep.level or t_on - s.t_ms > EXTEND_MS:
                    break
                ep.first = s
            ep.last = ep.samples[-1]
            for s, v in (f for f in frames if f[0].t_ms > t_off):  # the frames seen since its last CNN sample
                if not self._extends(ep, s, v):
                    ep.level = np.inf  # the extension has stopped
                    break
        else:
            ep.level = np.inf
        self._finishing.append(ep)

    def _extends(self, ep: Episode, s: Sample, v: np.ndarray) -> bool:
        if v[ep.channel] < ep.level or s.t_ms - ep.samples[-1].t_ms > EXTEND_MS:
            return False
        ep.last = s
        return True

    def _follow(self, s: Sample) -> list[Episode]:
        """Episodes whose offset has stopped following their action units at this frame."""
        done, still = [], []
        v = self._frames[-1][1]
        for ep in self._finishing:
            (still if ep.level != np.inf and self._extends(ep, s, v) else done).append(ep)
        self._finishing = still
        return done

    def _learn(self, t_ms: float, ch: np.ndarray) -> None:
        """The usual level, from the outputs outside episodes while there are MIN_CALM of them in the
        window: a posed clip's smile held four times as long as the neutral before it is still a smile.
        Once an episode has filled the window, it is the usual."""
        self._history.append((t_ms, ch, self._open is not None))
        while self._history and self._history[0][0] < t_ms - WINDOW_MS:
            self._history.popleft()
        if t_ms - self._usual_ms >= RECOMPUTE_MS:
            calm = [c for _, c, busy in self._history if not busy]
            pool = calm if len(calm) >= MIN_CALM else [c for _, c, _ in self._history]
            self._usual = np.percentile(np.stack(pool), QUANTILE, axis=0)
            self._usual_ms = t_ms
