"""The detectors beside the excursion spotter, and the queue that keeps one event per expression.

The excursion spotter (spotter.py) measures each frame from the person's neutral face. Beside it,
on the same samples, run the emotion CNN's episodes (episodes.py: smiles, laughs and gasps
through talking) and the flashes (flashes.py: brow flashes and quick smiles against their own
recent level). What they find waits in the EpisodeQueue below until the excursion spotter can no longer
report the same frames, and is dropped where it did. This module is that plumbing, so the
spotter's state machine stays about excursions.
"""

from __future__ import annotations

import itertools
import logging
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Callable

import numpy as np

from edge.events.record import Event
from edge.spotting.candidate import Sample
from edge.spotting.describe import describe_episode, describe_flash
from edge.spotting.episodes import CHANNEL_AUS, EmotionEpisodes, Episode
from edge.spotting.features import FeatureExtractor
from edge.spotting.flashes import ActionFlashes, Flash

log = logging.getLogger(__name__)

# A CNN episode is the same expression as a reported event only where they share this much of their
# frames (temporal IoU): a brief excursion on the edge of a long laugh, or a long event that merely
# touches a smile's onset, leaves the episode its own event (session 16, on the real clips' six views).
COVER_IOU = 0.3
# A macro event with this share of its frames inside macro events of its emotion already out repeats them
# (session 17: any overlap dropped a laugh's whole CNN episode after the first seconds of it went out).
REPEAT_SHARE = 0.5


def action_names(aus: Iterable[str]) -> frozenset[str]:
    """An event record's AU names as the estimates' names: a bilateral AU12/AU14 is both sides."""
    out: set[str] = set()
    for name in aus:
        out |= {"R" + name[2:], "L" + name[2:]} if name in ("AU12", "AU14") else {name}
    return frozenset(out)


class EpisodeQueue:
    """Episodes and flashes wait until the excursion spotter has decided about the same moments,
    and one that overlaps an event already reported is dropped: one expression, one event. The
    excursion spotter's events win (their onset and apex come from the AUs and are the more
    precise; an episode yields only to one sharing COVER_IOU of its frames), then the CNN's episodes
    (their extents follow the whole expression), then the flashes,
    which also wait for the CNN episode under way. A flash is dropped only where what covers it
    involved its whole action: brows raised during a smile are an expression of their own, and so
    are both brows raised (AU1+AU2) inside a sadness that moved only the inner brows (AU1), or both
    lip corners inside a one-sided contempt."""

    def __init__(self, remember: int = 64) -> None:
        self._pending: list[Episode | Flash] = []
        self._reported: deque[tuple[int, int, frozenset[str]]] = deque(maxlen=remember)  # (onset, offset, AUs)
        self._released: deque[tuple[int, int, frozenset[str]]] = deque(maxlen=remember)  # ... of those let out

    def add(self, episodes: Sequence[Episode | Flash]) -> None:
        self._pending.extend(episodes)

    def reported(self, onset_frame: int, offset_frame: int, aus: Iterable[str] = ()) -> None:
        """The spotter reported an event on these frames, involving these AUs (its record's names)."""
        self._reported.append((onset_frame, offset_frame, action_names(aus)))

    def ready(self, busy_from: int | None, episodes_busy_from: int | None = None,
              keep: Callable[[Episode | Flash], bool] = lambda found: True) -> list[Episode | Flash]:
        """The pending episodes that end before frame `busy_from` (the earliest frame the spotter may
        still report; None: it has nothing left to report), minus those overlapping what was reported;
        flashes also wait for `episodes_busy_from` (the CNN episode under way, if any). `keep` has the
        last word on each (SameExpression): only what it keeps counts as released for the flashes after."""
        out, wait = [], []
        for ep in sorted(self._pending, key=lambda e: isinstance(e, Flash)):  # episodes first
            on, off = ep.onset.index, ep.offset.index
            limits = [b for b in (busy_from, episodes_busy_from if isinstance(ep, Flash) else None)
                      if b is not None]
            if limits and off >= min(limits):
                wait.append(ep)
                continue
            if isinstance(ep, Flash):  # a flash of an action the expression did not wholly involve is its own
                own = frozenset(ep.channel.aus)
                taken = [(a, b) for a, b, aus in itertools.chain(self._reported, self._released) if own <= aus]
            else:
                taken = [(a, b) for a, b, _ in self._reported if _iou(a, b, on, off) >= COVER_IOU]
            if not any(a <= off and b >= on for a, b in taken) and keep(ep):
                out.append(ep)
                self._released.append((on, off, frozenset(ep.channel.aus if isinstance(ep, Flash)
                                                          else CHANNEL_AUS[ep.channel])))
        self._pending = wait
        return out

    def busy_from(self) -> int | None:
        """The earliest onset of what waits here (None: nothing waits)."""
        return min((ep.onset.index for ep in self._pending), default=None)


def _iou(a: int, b: int, c: int, d: int) -> float:
    """Temporal IoU of frames a..b and c..d (inclusive)."""
    inter = min(b, d) - max(a, c) + 1
    return max(0, inter) / (max(b, d) - min(a, c) + 1)


class SameExpression:
    """The last check of "one expression, one event", on the finished records: a macro event whose
    frames lie REPEAT_SHARE or more inside macro events already out with the same emotion is a second
    view of the same expression (a smile's corner flash beside the CNN's episode of it, found in either
    order) and is dropped. One that mostly lies outside them passes: the CNN's episode of a whole laugh
    after the excursion spotter reported a few seconds of it. A micro event always passes: a brief
    flash inside a longer expression is what the product is for."""

    def __init__(self, remember: int = 64) -> None:
        self._out: deque[tuple[int, int, str]] = deque(maxlen=remember)  # (onset, offset, emotion) of macro events

    def keep(self, events: list[Event]) -> list[Event]:
        """`events` minus those repeating a macro expression already out; what passes is remembered."""
        if not events:  # nearly every frame: nothing to check, nothing allocated
            return events
        out = []
        for ev in events:
            if ev.type == "macro" and ev.emotion:
                on, off = ev.onset_frame, ev.offset_frame
                covered = np.zeros(off - on + 1, dtype=bool)
                for a, b, e in self._out:
                    if e == ev.emotion and a <= off and on <= b:
                        covered[max(a, on) - on:min(b, off) - on + 1] = True
                if covered.mean() >= REPEAT_SHARE:
                    log.debug("macro %s at frames %d-%d repeats what is already out: dropped", ev.emotion, on, off)
                    continue
                self._out.append((on, off, ev.emotion))
            out.append(ev)
        return out


class SideDetectors:
    """`update` on every sample with a face, `ready` after the spotter's own events of the frame."""

    def __init__(self) -> None:
        self.queue = EpisodeQueue()  # outlives reset(): it holds what was found on the subject just lost
        self.same = SameExpression()  # likewise
        self.reset()

    def reset(self) -> None:
        """Forget the subject (a new face, time going backwards); what is queued stays."""
        self.episodes = EmotionEpisodes()
        self.flashes = ActionFlashes()

    def restart(self) -> None:
        """Forget everything, the queue too (the timeline restarted)."""
        self.queue = EpisodeQueue()
        self.same = SameExpression()
        self.reset()

    def update(self, s: Sample) -> None:
        self.queue.add(self.episodes.update(s))
        self.queue.add(self.flashes.update(s, self.episodes.happy_rise()))

    def busy_from(self) -> list[int]:
        """Onset frames of what is under way or waiting here: it may still come out (MacroChain)."""
        return [f for f in (self.episodes.busy_from(), self.queue.busy_from()) if f is not None]

    def flush(self) -> None:
        """The face is gone or the footage ended: what is under way ends at its last frame."""
        self.queue.add([*self.episodes.flush(), *self.flashes.flush()])

    def ready(self, events: list[Event], busy_from: int | None, final: bool,
              keep: Callable[[Episode | Flash], bool] = lambda found: True) -> list[Episode | Flash]:
        """What no longer overlaps anything the spotter may report (from frame `busy_from` on), after
        its `events` of this frame, and what `keep` keeps; `final`: the spotter has nothing left to report."""
        for ev in events:
            self.queue.reported(ev.onset_frame, ev.offset_frame, ev.aus)
        if final:
            return self.queue.ready(None, None, keep)
        return self.queue.ready(busy_from, self.episodes.busy_from(), keep)


def describe_side(found: Episode | Flash, fx: FeatureExtractor, utc: Callable[[int], str],
                  versions: dict[str, str], video: str, max_micro_ms: float) -> Event:
    """The event record of an episode or a flash."""
    if isinstance(found, Flash):
        return describe_flash(found, fx, utc, versions, video, max_micro_ms)
    return describe_episode(found, fx, utc, versions, video)
