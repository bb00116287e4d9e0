"""The detectors beside the excursion spotter, and the queue that keeps one event per expression.

The excursion spotter (spotter.py) measures each frame from the person's neutral face. Beside it,
on the same samples, run the emotion CNN's episodes (episodes.py: smiles, laughs and gasps
through talking) and the flashes (flashes.py: brow flashes and quick smiles against their own
recent level). What they find waits in an EpisodeQueue until the excursion spotter can no longer
report the same frames, and is dropped where it did. This class is that plumbing, so the
spotter's state machine stays about excursions.
"""

from __future__ import annotations

from typing import Callable

from edge.events.record import Event
from edge.spotting.candidate import Sample
from edge.spotting.describe import describe_episode, describe_flash
from edge.spotting.episodes import EmotionEpisodes, Episode, EpisodeQueue
from edge.spotting.features import FeatureExtractor
from edge.spotting.flashes import ActionFlashes, Flash


class SideDetectors:
    """`update` on every sample with a face, `ready` after the spotter's own events of the frame."""

    def __init__(self) -> None:
        self.queue = EpisodeQueue()  # outlives reset(): it holds what was found on the subject just lost
        self.reset()

    def reset(self) -> None:
        """Forget the subject (a new face, time going backwards); what is queued stays."""
        self.episodes = EmotionEpisodes()
        self.flashes = ActionFlashes()

    def restart(self) -> None:
        """Forget everything, the queue too (the timeline restarted)."""
        self.queue = EpisodeQueue()
        self.reset()

    def update(self, s: Sample) -> None:
        self.queue.add(self.episodes.update(s))
        self.queue.add(self.flashes.update(s, self.episodes.happy_rise()))

    def flush(self) -> None:
        """The face is gone or the footage ended: what is under way ends at its last frame."""
        self.queue.add([*self.episodes.flush(), *self.flashes.flush()])

    def ready(self, events: list[Event], busy_from: int | None, final: bool) -> list[Episode | Flash]:
        """What no longer overlaps anything the spotter may report (from frame `busy_from` on), after
        its `events` of this frame; `final`: the spotter has nothing left to report."""
        for ev in events:
            self.queue.reported(ev.onset_frame, ev.offset_frame, ev.aus)
        if final:
            return self.queue.ready(None, None)
        return self.queue.ready(busy_from, self.episodes.busy_from())


def describe_side(found: Episode | Flash, fx: FeatureExtractor, utc: Callable[[int], str],
                  versions: dict[str, str], video: str, max_micro_ms: float) -> Event:
    """The event record of an episode or a flash."""
    if isinstance(found, Flash):
        return describe_flash(found, fx, utc, versions, video, max_micro_ms)
    return describe_episode(found, fx, utc, versions, video)
