"""The on-device deployment: the device's own outbox and clips, no broker.

The outbox is the device's SQLite file, written by the running unit; here it is
only read, except that starting and stopping a session sets its session state
(exactly what the session button does).
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dashboard.records import DeviceRow, EventQuery
from edge.config import Config

log = logging.getLogger(__name__)

# Events read from the outbox per query; the outbox holds one device's recent history.
SCAN_LIMIT = 20_000


class LocalStore:
    """Read side of the Store interface over edge.events.outbox.Outbox, plus session control."""

    def __init__(self, cfg: Config) -> None:
        from edge.events.outbox import open_outbox

        self.cfg = cfg
        self._outbox = open_outbox(cfg)

    def _scan(self, session: str = "", since: str = "", until: str = "", limit: int = SCAN_LIMIT) -> list[dict[str, Any]]:
        # The outbox filters time on onset; the dashboard on apex (apex >= onset), so only `until` narrows safely.
        return self._outbox.events(session=session or None, until_utc=until or None, limit=limit)

    # -- Store interface (reads) -----------------------------------------
    def devices(self) -> list[DeviceRow]:
        stats = self._outbox.stats()
        current = self._outbox.latest_session()
        health, health_utc = self._unit_health()
        health["outbox"] = {**health.get("outbox", {}), "depth": stats.depth,
                            "oldest_undelivered_age_s": stats.oldest_undelivered_age_s,
                            "evicted_delivered": stats.evicted_delivered,
                            "evicted_undelivered": stats.evicted_undelivered}
        health.setdefault("versions", {})
        return [DeviceRow(
            id=self.cfg.device_id, status="local", site=self.cfg.device.site, room=self.cfg.device.room,
            health=health, health_utc=health_utc, last_seen_utc=health_utc,
            session=current or {"state": "stopped"},
        )]

    def _unit_health(self) -> tuple[dict[str, Any], str]:
        """The running unit's latest health file (fps, drops, latency, temperature), if any."""
        from edge.device.unit import health_file

        for path in (health_file(self.cfg), Path("/run/microexpr/health.json")):
            try:
                doc = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(doc, dict):
                return doc, str(doc.get("ts", ""))
        return {}, ""

    def query_events(self, q: EventQuery) -> list[dict[str, Any]]:
        hits = [e for e in self._scan(q.session, q.since_utc, q.until_utc) if q.matches(e)]
        hits.sort(key=lambda e: (e.get("apex_utc", ""), e.get("id", "")), reverse=True)
        return hits[q.offset:q.offset + q.limit]

    def count_events(self, q: EventQuery | None = None) -> int:
        q = q or EventQuery()
        return sum(1 for e in self._scan(q.session, q.since_utc, q.until_utc) if q.matches(e))

    def event(self, event_id: str) -> dict[str, Any] | None:
        return self._outbox.get(event_id)

    def recent_events(self, cursor: int | None, limit: int = 200) -> tuple[int, list[dict[str, Any]]]:
        """The newest events, oldest first; the caller drops ids it already sent."""
        return 0, list(reversed(self._scan(limit=min(limit, 100))))

    def sessions(self, limit: int = 200) -> list[dict[str, Any]]:
        groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for e in self._scan():
            if e.get("session"):
                groups[(e["session"], e.get("device", ""))].append(e)
        out = [
            {"session": s, "device": d, "events": len(es),
             "first_utc": min(e["onset_utc"] for e in es), "last_utc": max(e["offset_utc"] for e in es),
             "micro": sum(e.get("type") == "micro" for e in es), "macro": sum(e.get("type") == "macro" for e in es)}
            for (s, d), es in groups.items()
        ]
        out.sort(key=lambda r: r["last_utc"], reverse=True)
        return out[:limit]

    def session_events(self, session: str, limit: int = 10_000) -> list[dict[str, Any]]:
        es = self._scan(session=session, limit=limit)
        return sorted(es, key=lambda e: (e.get("onset_utc", ""), e.get("id", "")))

    def add_events(self, events: Sequence[dict[str, Any]], received_utc: str) -> int:
        raise RuntimeError("the local deployment does not ingest; the device writes its outbox")

    def close(self) -> None:
        self._outbox.close()

    # -- session control (what the session button does) -----------------
    def start(self, device: str, interview_id: str) -> dict[str, Any]:
        self._outbox.start_session(interview_id)
        log.info("local session %s started", interview_id)
        return {"ok": True, "result": self._outbox.current_session()}

    def stop(self, device: str) -> dict[str, Any]:
        stopped = self._outbox.stop_session()
        log.info("local session stopped")
        return {"ok": True, "result": stopped}


class ClipStore:
    """Slow-motion review clips in <data_dir>/clips/<event_id>/ (never published)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _dir(self, event_id: str) -> Path | None:
        if not event_id or "/" in event_id or "\\" in event_id or event_id.startswith("."):
            return None
        d = self.folder / event_id
        return d if (d / "clip.json").is_file() else None

    def meta(self, event_id: str) -> dict[str, Any] | None:
        d = self._dir(event_id)
        if d is None:
            return None
        try:
            meta = json.loads((d / "clip.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            log.warning("unreadable clip %s: %s", d, e)
            return None
        frames = meta.get("frames")
        if not isinstance(frames, list) or not frames or not all(isinstance(f, str) for f in frames):
            log.warning("clip %s has no frame list", d)
            return None
        return meta

    def frame(self, event_id: str, name: str) -> Path | None:
        meta = self.meta(event_id)
        if meta is None or name not in meta["frames"]:
            return None
        p = self.folder / event_id / name
        return p if p.is_file() else None
