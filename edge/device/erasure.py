"""Erase one interview session's data on the device: its events and its clips, nothing else.

Used by `microexpr erase --session ID` and the MQTT `erase_session` command. Clip
ids come from both the outbox and the clips' own session label, so a clip whose
event the outbox already evicted is still found. Each erasure is appended to an
erasure log (`<data_dir>/erasures.jsonl`): when, which session, who asked and
through what, and the counts; never anything of what was erased. It is how the
operator shows a request was carried out.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edge.device.clips import ClipStore
from edge.events.record import utc_iso

log = logging.getLogger(__name__)

ALL = 2**62  # every event of the session, whatever the count
LOG_NAME = "erasures.jsonl"


@dataclass(frozen=True)
class Erased:
    session: str
    events: int
    clips: int


@dataclass(frozen=True)
class ErasureRecord:
    at: str  # UTC ISO 8601
    session: str
    requester: str  # who asked: the MQTT command's `requester` user property, the CLI's --requester or login
    via: str  # "cli" | "mqtt"
    events: int
    clips: int


class ErasureLog:
    """Append-only JSON lines, fsync'd: a record survives a power cut straight after the erasure."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def append(self, record: ErasureRecord) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(asdict(record), ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def read(self) -> list[ErasureRecord]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        return [ErasureRecord(**json.loads(line)) for line in text.splitlines() if line.strip()]


def erase_session_data(outbox: Any, clips: ClipStore | None, session: str, requester: str = "", via: str = "",
                       erasures: ErasureLog | None = None) -> Erased:
    """Remove the session's events (outbox) and clips; records who asked in `erasures`; returns the counts."""
    ids = {e["id"] for e in outbox.events(session=session, limit=ALL)}
    n_clips = clips.erase(event_ids=ids, session=session) if clips is not None else 0
    n_events = outbox.erase_session(session)
    requester, via = requester or "unknown", via or "unknown"
    log.info("erased session %s at the request of %s (%s): %d events, %d clips", session, requester, via,
             n_events, n_clips)
    if erasures is not None:
        erasures.append(ErasureRecord(utc_iso(datetime.now(timezone.utc)), session, requester, via, n_events, n_clips))
    return Erased(session, n_events, n_clips)
