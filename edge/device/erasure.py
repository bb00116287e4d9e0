"""Erase one interview session's data on the device: its events and its clips, nothing else.

Used by `microexpr erase --session ID`; an MQTT command handler can call the same
function. Clip ids come from both the outbox and the clips' own session label,
so a clip whose event the outbox already evicted is still found.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from edge.device.clips import ClipStore

log = logging.getLogger(__name__)

ALL = 2**62  # every event of the session, whatever the count


@dataclass(frozen=True)
class Erased:
    session: str
    events: int
    clips: int


def erase_session_data(outbox: Any, clips: ClipStore | None, session: str) -> Erased:
    """Remove the session's events (outbox) and clips; returns the counts."""
    ids = {e["id"] for e in outbox.events(session=session, limit=ALL)}
    n_clips = clips.erase(event_ids=ids, session=session) if clips is not None else 0
    n_events = outbox.erase_session(session)
    log.info("erased session %s: %d events, %d clips", session, n_events, n_clips)
    return Erased(session, n_events, n_clips)
