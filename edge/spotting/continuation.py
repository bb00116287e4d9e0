"""One long expression, one event: a macro expression reported in pieces is put back together.

A laugh through an answer dips and comes back; the excursion spotter and the CNN's episodes may
close it at the dip and open it again a frame later, and the CNN's episode of the whole laugh
comes out only after an excursion inside it already went out. On the real clips (session 20)
these pieces were a third of the false alarms on the transcoded views: each piece alone covers
too little of the annotated smile to match it. So a macro smile (happiness, CONTINUED) waits here
while anything still under way could continue it, and another macro smile that overlaps it or
starts within CONTINUE_MS of its offset joins it, unless the face came back to rest in between
(REST_SHARE). Two that share a third of the shorter one's frames join whatever the score did
there (SHARED). One that lies wholly inside another has nothing in between and always joins it: a
laugh the CNN followed as one episode may rest for a moment in its middle, and the excursion
spotter's piece of it is still the same laugh (session 22). Micro events and the other emotions
pass at once: a brief flash inside a longer expression is what the product is for.

The cost is latency for macro smiles only: one is released when nothing that started by its
offset (plus CONTINUE_MS) is still open: the spotter's 600 ms pre-roll and the CNN's episode
ending, 0.9 s after the offset on the spotter tests' smile.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import logging
from collections import deque
from datetime import datetime
from typing import Callable

from edge.events.record import Event

log = logging.getLogger(__name__)

CONTINUE_MS = 300.0  # a same-emotion macro event starting this soon after another's offset continues it
REST_SHARE = 0.15  # a dip under this share of the pieces' peak score is a return to rest
# Two pieces sharing this share of the shorter one's frames are one smile, whatever the score did in
# what they share: the spotter's score there is measured against a neutral that a long laugh may have
# replaced (the 4 s and 20 s re-baselines), so its dip is no evidence of rest. On the real clips'
# transcoded views (session 33) overlapping pieces of franck's two long laughs were four of the false
# alarms (overlaps of 44-66 % of the shorter piece); the overlap that must not join, a brief
# re-intensification annotated as its own episode right after a laugh, shared 9 %.
SHARED = 1.0 / 3.0
# Only smiles and laughs: they ebb and come back for seconds without the face returning to rest. A
# surprise is over within a second, so two in a row are two reactions (joining them lost two
# annotated surprises on the real clips, session 20); the other emotions showed no pieces.
CONTINUED = frozenset({"happiness"})
SCORE_MEMORY = 8192  # latest frames' spotter scores kept, to tell a dip from a return to rest


def _ms(utc: str) -> float:
    """A record time (ISO 8601 UTC) in milliseconds since the epoch."""
    return datetime.fromisoformat(utc.replace("Z", "+00:00")).timestamp() * 1000.0


def _gap_frames(ev: Event) -> int:
    """CONTINUE_MS in frames of the event's own footage (its frames per millisecond)."""
    frames = ev.offset_frame - ev.onset_frame
    if frames <= 0 or ev.duration_ms <= 0:
        return 0
    return int(CONTINUE_MS * frames / ev.duration_ms)


def continues(first: Event, later: Event, rested: Callable[[Event, Event], bool] = lambda a, b: False) -> bool:
    """`later` is more of `first`: both macro with the same emotion, and one lies inside the other,
    or they share SHARED of the shorter one's frames, or it overlaps `first` or starts within
    CONTINUE_MS of its offset without the face at rest in between (`rested(a, b)`: the face was at
    rest between the two, see MacroChain._rested)."""
    if later.type != "macro" or first.type != "macro" or first.emotion not in CONTINUED or later.emotion != first.emotion:
        return False
    gap = max(_gap_frames(first), _gap_frames(later))
    if later.onset_frame > first.offset_frame + gap or first.onset_frame > later.offset_frame + gap:
        return False
    a, b = sorted((first, later), key=lambda e: e.onset_frame)
    if b.offset_frame <= a.offset_frame:
        return True  # nested: the outer one already holds the inner as one expression, rest or none inside it
    shorter = min(a.offset_frame - a.onset_frame, b.offset_frame - b.onset_frame)
    if a.offset_frame - b.onset_frame >= SHARED * max(1, shorter):
        return True  # both saw the smile over a good part of the shorter one: no rest can lie in what they share
    return not rested(a, b)


def joined(a: Event, b: Event, span_ms: float | None = None) -> Event:
    """One event over both: the longer one's apex, emotion scores and AUs, the union's extent.
    `span_ms`: the frame times' difference from the union's onset to its offset, where known (the
    record times are rounded to the millisecond)."""
    main = a if a.duration_ms >= b.duration_ms else b
    start = a if a.onset_frame <= b.onset_frame else b
    end = a if a.offset_frame >= b.offset_frame else b
    if span_ms is None:
        span_ms = _ms(end.offset_utc) - _ms(start.onset_utc)
    return dataclasses.replace(
        main,
        onset_frame=start.onset_frame, onset_utc=start.onset_utc,
        offset_frame=end.offset_frame, offset_utc=end.offset_utc,
        duration_ms=round(max(main.duration_ms, span_ms), 1),
    )


class MacroChain:
    """Holds macro events until nothing under way could continue them; joins those that do."""

    def __init__(self) -> None:
        self._held: list[Event] = []
        self._index: deque[int] = deque(maxlen=SCORE_MEMORY)  # frame indices, ascending
        self._score: deque[float] = deque(maxlen=SCORE_MEMORY)  # the spotter's score on each
        self._t_ms: deque[float] = deque(maxlen=SCORE_MEMORY)  # and its time

    def observe(self, index: int, score: float, t_ms: float) -> None:
        """The spotter's score (how far the face is from its neutral) on frame `index` at `t_ms`."""
        if self._index and index <= self._index[-1]:  # the timeline restarted
            self._index.clear()
            self._score.clear()
            self._t_ms.clear()
        self._index.append(index)
        self._score.append(score)
        self._t_ms.append(t_ms)

    def _span_ms(self, first: int, last: int) -> float | None:
        """Time from frame `first` to frame `last`, if both were observed and are remembered."""
        i = bisect.bisect_left(self._index, first)
        j = bisect.bisect_left(self._index, last)
        if i >= len(self._index) or j >= len(self._index) or self._index[i] != first or self._index[j] != last:
            return None
        return self._t_ms[j] - self._t_ms[i]

    def _scores(self, first: int, last: int) -> list[float]:
        i = bisect.bisect_left(self._index, first)
        j = bisect.bisect_right(self._index, last)
        return list(itertools.islice(self._score, i, j))

    def _rested(self, a: Event, b: Event) -> bool:
        """Between `a` and the later-starting `b` (from the earlier of a's offset and b's onset to the
        later), the score fell under REST_SHARE of its peak over both: the face came back to rest."""
        gap = self._scores(min(a.offset_frame, b.onset_frame), max(a.offset_frame, b.onset_frame))
        both = self._scores(min(a.onset_frame, b.onset_frame), max(a.offset_frame, b.offset_frame))
        if not gap or not both:
            return False
        return min(gap) < REST_SHARE * max(both)

    def take(self, events: list[Event], busy_from: int | None) -> list[Event]:
        """`events` just finished; `busy_from`: the earliest frame any detector may still report
        (None: nothing is under way). Returns the events to report now, in onset order."""
        if not events and not self._held:
            return events
        out = []
        for ev in events:
            if ev.type != "macro" or ev.emotion not in CONTINUED:
                out.append(ev)
                continue
            self._hold(ev)
        keep = []
        for ev in self._held:
            if busy_from is not None and busy_from <= ev.offset_frame + _gap_frames(ev):
                keep.append(ev)
            else:
                out.append(ev)
        self._held = keep
        return sorted(out, key=lambda e: e.onset_frame) if len(out) > 1 else out

    def flush(self) -> list[Event]:
        """The stream ended or restarted: everything held is reported."""
        out, self._held = sorted(self._held, key=lambda e: e.onset_frame), []
        return out

    def _hold(self, ev: Event) -> None:
        """Keep `ev`, joined with every held event it continues (or that continues it)."""
        rest = []
        for h in self._held:
            if continues(h, ev, self._rested) or continues(ev, h, self._rested):
                log.debug("macro %s at frames %d-%d continues %d-%d: one event", ev.emotion,
                          ev.onset_frame, ev.offset_frame, h.onset_frame, h.offset_frame)
                ev = joined(h, ev, self._span_ms(min(h.onset_frame, ev.onset_frame),
                                                 max(h.offset_frame, ev.offset_frame)))
            else:
                rest.append(h)
        self._held = rest + [ev]
