"""How much each AU change counts on a frame: blinks, talking and head motion discounted.

The landmark model does not keep a blink to the eyelids: it moves its brows,
cheeks and mouth corners by up to a fifth of an AU's full range while the eye
closes. Talking moves the jaw, the lips and the lip corners (and, through the
model, a little of the brows). A quick head turn leaves a transient residual
after alignment. None of these is an expression, so while one is under way the
spotting threshold of the features it contaminates is raised (or they are
ignored), and lips-part, jaw-drop and eye-closure never start an event alone.

The result is a per-feature divisor of the z-score: 1 counts normally, larger
values discount, infinity ignores.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

from edge.spotting.features import AU_INDEX, AU_NAMES

# Eye closure never starts an event (a blink); lips part and jaw drop count at
# a discount (speech moves them too, and is ruled out separately).
NEVER_ALONE = ("AU45",)
MOUTH_OPENING = ("AU25", "AU26")
GATE_INPUTS = ("AU5", "AU45", "AU25", "AU26")  # read as absolute levels by the blink and talking gates
OPENING_DISCOUNT = 2.0
# Mouth estimates that follow a jaw opening or articulation.
JAW_COUPLED = ("AU10", "AU15", "AU16", "AU17", "AU20", "AU23", "R12", "L12", "R14", "L14")

BLINK_LEVEL = 0.007  # AU45 estimate (IOD) above which the eye is closing (a blink: ~0.02)
BLINK_HOLD_MS = 60.0  # the model's eyes settle a little after the lids reopen
# A blink also needs the mouth's z under this share of the closure's: a smile's cheek raise narrows
# the eye too, but pulls the lip corners far more than a blink's leak into the mouth does.
BLINK_MOUTH_SHARE = 1.0
BLINK_LEAK_SHARE = 0.5  # ... or under this share once the blink's own leak is taken out
BLINK_RELEASE = 0.3  # after a blink the lids count as down until the closure falls under this share of its level
BLINK_RETURN_MS = 150.0  # ... for at most this long after the blink (eyes narrowed by an expression stay so)
RETURN_TOLERANCE = 0.001  # IOD: lids closing again after a blink are not its return (a new move)
RECENT_MS = 4000.0  # how long mouth openings are remembered for talking decisions
NOISE_LEVELS = 4.0  # blink and mouth-open levels are at least this many sigmas
FLOOR_MS = 300.0  # mouth openings are measured from the lowest opening within this span
MOUTH_OPEN_LEVEL = 0.008  # AU25/AU26 estimate (IOD) above which the mouth is open
OPEN_DISCOUNT = 2.0  # non-mouth features need this many times the threshold while the mouth moves
CORNER_PULLS = ("R12", "L12", "R14", "L14", "AU20", "AU15")
TALK_DOMINANCE = 0.5  # a mouth opening counts towards talking only if its z is at least this share of the corners'
EYE_REGION = ("AU5", "AU7", "AU45")  # what a blink moves: masked while it lasts
BLINK_EYES_ONLY = 1.0
BLINK_DISCOUNT = 2.0  # everything else needs this many times the threshold during a blink (the model's leak)
MOTION_DPS = 25.0  # head angular speed (deg/s) from which features are discounted
MOTION_DISCOUNT_PER_DPS = 1.0 / 25.0  # ... by 1 + (speed - MOTION_DPS) x this


def mask(names: tuple[str, ...]) -> np.ndarray:
    m = np.zeros(len(AU_NAMES), dtype=bool)
    m[[AU_INDEX[n] for n in names]] = True
    return m


class TalkDetector:
    """Flags talking: repeated mouth openings within a short time window.

    One opening is not talking (surprise and fear open the jaw); `rises`
    openings within `window_ms` (syllables come at 3-5 per second) are, and the
    flag holds for `hold_ms` after the last one.
    """

    def __init__(self, window_ms: float = 1000.0, hold_ms: float = 400.0, rises: int = 3) -> None:
        self.rises = rises
        self.window_ms = window_ms
        self.hold_ms = hold_ms
        self._rises: deque[float] = deque()
        self._recent: deque[float] = deque()  # every opening of the last few seconds
        self._floor: deque[tuple[float, float]] = deque()  # (t, opening), openings increasing
        self._open = False
        self._until = -np.inf

    def reset(self) -> None:
        self._rises.clear()
        self._recent.clear()
        self._floor.clear()
        self._open = False
        self._until = -np.inf

    def update(self, t_ms: float, opening: float, level: float = MOUTH_OPEN_LEVEL, counts: bool = True) -> bool:
        """Feed one frame's mouth opening (IOD), the rise that counts as opening, and whether this
        frame may start one; True while talking.

        An opening is measured from the lowest of the last FLOOR_MS, so a mouth
        that comes to rest a little apart (after speech, with a changed
        baseline) is not taken for endless syllables.
        """
        # Running minimum: openings no lower than a later one can never be the floor again.
        while self._floor and self._floor[-1][1] >= opening:
            self._floor.pop()
        self._floor.append((t_ms, opening))
        while self._floor[0][0] < t_ms - FLOOR_MS:
            self._floor.popleft()
        rise = opening - self._floor[0][1]
        level = level if not self._open else level * 0.4
        is_open = rise > level and (counts or self._open)
        if is_open and not self._open:
            self._rises.append(t_ms)
            self._recent.append(t_ms)
        while self._recent and self._recent[0] < t_ms - RECENT_MS:
            self._recent.popleft()
        self._open = is_open
        while self._rises and self._rises[0] < t_ms - self.window_ms:
            self._rises.popleft()
        if len(self._rises) >= self.rises:
            self._until = t_ms + self.hold_ms
        return t_ms <= self._until

    def openings(self, start_ms: float, end_ms: float) -> int:
        """Mouth openings that began within [start_ms, end_ms] (the last few seconds only)."""
        return sum(start_ms <= t <= end_ms for t in self._recent)

    @property
    def mouth_open(self) -> bool:
        return self._open


class Gates:
    """Per-frame z-score divisors of the AU estimates that drive the spotting score."""

    def __init__(self) -> None:
        self.talk = TalkDetector()
        self._never = mask(NEVER_ALONE)
        self._jaw = mask(JAW_COUPLED)
        self._opening = mask(MOUTH_OPENING)
        self._i45 = AU_INDEX["AU45"]
        self._i5 = AU_INDEX["AU5"]
        self._i25 = AU_INDEX["AU25"]
        self._i26 = AU_INDEX["AU26"]
        self._corners = mask(CORNER_PULLS)
        self._eye = mask(EYE_REGION)
        self._smile = mask(("R12", "L12"))
        self.reset()

    def reset(self) -> None:
        self.talk.reset()
        self._blink_until = -np.inf
        self._lids_until = -np.inf
        self._return_by = -np.inf
        self._closure = 0.0
        self.blinking = False
        self.lids_down = False
        self.talking = False
        self.mouth_moving = False

    def update(self, t_ms: float, disp: np.ndarray, head_speed: float, sigma: np.ndarray,
               decoupled: np.ndarray | None = None) -> np.ndarray:
        """Divisors for this frame from its baseline-relative estimates, their noise and the head speed.

        Levels are absolute but never under NOISE_LEVELS sigmas, so a noisy face
        (small, blurred, dim) does not read as blinking or talking all the time.
        `decoupled`: the same estimates with what eye closure drags along taken out
        (FeatureExtractor.decouple): a mouth busy only with that leak does not veto a blink.
        """
        div = np.ones(len(AU_NAMES))
        div[self._never] = np.inf
        div[self._opening] = OPENING_DISCOUNT
        # A blink closes the eye from above: the upper lid comes down. A cheek
        # raise (AU6) narrows the eye from below and lifts the upper lid with it.
        blink_level = max(BLINK_LEVEL, NOISE_LEVELS * sigma[self._i45])
        z_closure = disp[self._i45] / sigma[self._i45]
        mouth_quiet = float(np.max(np.abs(disp[self._jaw]) / sigma[self._jaw])) < BLINK_MOUTH_SHARE * z_closure
        if decoupled is not None and not mouth_quiet:
            # The closing lids drag the model's mouth along (BLINK_COUPLING), on some faces more than the
            # mouth moves: with that leak taken out, what is left must be clearly small.
            z_left = float(np.max(np.abs(decoupled[self._jaw]) / sigma[self._jaw]))
            mouth_quiet = z_left < BLINK_LEAK_SHARE * z_closure
        if disp[self._i45] > blink_level and disp[self._i5] < -0.5 * disp[self._i45] and mouth_quiet:
            self._blink_until = t_ms + BLINK_HOLD_MS
        self.blinking = t_ms <= self._blink_until
        # The lids' whole return after a blink: on some faces the model's mouth leak peaks as they
        # reopen, when the mouth no longer looks quiet. Only short candidates are judged by it.
        if self.blinking:
            self._lids_until = t_ms + BLINK_HOLD_MS
            self._return_by = t_ms + BLINK_RETURN_MS
        else:
            if disp[self._i45] > self._closure + RETURN_TOLERANCE:
                self._return_by = -np.inf  # closing again: a new move, the return is over
            if self.lids_down and disp[self._i45] > BLINK_RELEASE * blink_level and t_ms <= self._return_by:
                self._lids_until = t_ms + BLINK_HOLD_MS
        self._closure = float(disp[self._i45])
        self.lids_down = t_ms <= self._lids_until
        if self.blinking:
            # A blink masks the eyes while it lasts, not the brows and the mouth: a laugh narrows
            # the eyes, and vetoing the whole face then lost most real smiles.
            div *= BLINK_DISCOUNT
            div[self._eye] = np.inf
            if not BLINK_EYES_ONLY:
                div[:] = np.inf
                return div
        z_open = max(disp[self._i25] / sigma[self._i25], disp[self._i26] / sigma[self._i26])
        opening = max(disp[self._i25], disp[self._i26])
        # Lips pulled sideways (a smile, contempt) part a little too: that is not speech.
        z_corners = float(np.max(np.abs(disp[self._corners]) / sigma[self._corners]))
        level = max(MOUTH_OPEN_LEVEL, NOISE_LEVELS * min(sigma[self._i25], sigma[self._i26]))
        counts = z_open >= TALK_DOMINANCE * z_corners
        self.talking = self.talk.update(t_ms, opening, level, counts)
        self.mouth_moving = self.talking
        if self.talking:
            # Talking masks articulation, not the upper face and not a smile's lip-corner pull.
            articulation = (self._jaw | self._opening) & ~self._smile
            div[articulation] = np.inf
            div[~(articulation | self._never)] *= OPEN_DISCOUNT
        if head_speed > MOTION_DPS:
            div *= 1.0 + (head_speed - MOTION_DPS) * MOTION_DISCOUNT_PER_DPS
        return div


_CORNER_PAIR = {AU_INDEX["R12"]: AU_INDEX["L12"], AU_INDEX["L12"]: AU_INDEX["R12"]}
ONE_SIDED = 0.5  # a corner pull with the other side under this share of it is one-sided
_ARTICULATION = mask(tuple(n for n in JAW_COUPLED + MOUTH_OPENING if n not in ("R12", "L12")))


def articulated(apex: Any) -> bool:
    """Whether speech could explain an event: its apex is carried by the lips and jaw, not by a smile's
    corner pull, the cheeks, the brows or the eyes (a sample's gated z-scores, `Sample.z`)."""
    z = getattr(apex, "z", None)
    if z is None:
        return True
    z = np.where(np.isfinite(z), z, 0.0)
    top = int(np.argmax(z))
    if top in _CORNER_PAIR:  # a smile pulls both corners; speech often one more than the other
        return bool(z[_CORNER_PAIR[top]] < ONE_SIDED * z[top])
    return bool(_ARTICULATION[top])


RHYTHM_MS = 1000.0  # lip-carried micro candidates this close before one ...
RHYTHM_BEATS = 2  # ... this many or more make it a syllable: expressions do not come at 3 a second


class LipRhythm:
    """Speech seen as a rhythm: micro candidates carried by the lips, one after another.

    On some faces the model pulls the lips sideways as they part, so no opening counts as a syllable
    (TALK_DOMINANCE) and the talking flag stays down; each syllable then looks like a brief one-sided
    lip pull. Micro expressions do not come three in a second.
    """

    def __init__(self) -> None:
        self._beats: deque[float] = deque()

    def beat(self, t_ms: float) -> int:
        """Note a lip-carried micro candidate peaking at `t_ms`; how many came within RHYTHM_MS before it."""
        while self._beats and self._beats[0] < t_ms - RHYTHM_MS:
            self._beats.popleft()
        n = len(self._beats)
        self._beats.append(t_ms)
        return n


TALK_DECIDE_MS = 600.0  # an event with an open mouth waits this long for talking to show


class TalkHold:
    """Events during which the mouth opened wait until talking can be ruled out.

    Talking shows as mouth openings before and after the event; the event's
    own opening (a surprised jaw drop) does not count.
    """

    def __init__(self) -> None:
        # (decide at, event, onset ms, offset ms, peak over the threshold)
        self._pending: list[tuple[float, Any, float, float, float]] = []

    def hold(self, event: Any, onset_ms: float, offset_ms: float, peak: float = 0.0) -> None:
        self._pending.append((offset_ms + TALK_DECIDE_MS, event, onset_ms, offset_ms, peak))

    def release(self, now_ms: float, talk: TalkDetector) -> tuple[list[Any], list[tuple[Any, float]]]:
        """Events whose wait is over and that were not talking; and those that were, with their peaks."""
        out: list[Any] = []
        speech: list[tuple[Any, float]] = []
        while self._pending and self._pending[0][0] <= now_ms:
            _, ev, t_on, t_off, peak = self._pending.pop(0)
            around = talk.openings(t_on - 1000.0, t_on - 1.0) + talk.openings(t_off + 1.0, t_off + TALK_DECIDE_MS)
            if around >= 2:
                speech.append((ev, peak))
            else:
                out.append(ev)
        return out, speech

    def onsets(self) -> list[int]:
        """Onset frames of the events still waiting."""
        return [int(ev.onset_frame) for _, ev, _, _, _ in self._pending]

    def flush(self) -> list[Any]:
        """End of stream: whatever still waits is reported (no more talking can show)."""
        out = [ev for _, ev, _, _, _ in self._pending]
        self._pending.clear()
        return out
