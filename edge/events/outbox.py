"""The durable outbox: every event is committed here before anything else happens to it.

One SQLite file (WAL, synchronous=FULL) holds the events, their delivery state,
the persisted eviction counters and the interview sessions. The MQTT publisher
reads `pending()` and calls `mark_delivered()` only on a successful PUBACK; the
dashboard reads `events()`/`get()`/`stats()`. Bounded by size, count and age:
when full, delivered events go first, then the oldest undelivered, each counted.
One connection guarded by a lock, so the pipeline and publisher threads share it.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from edge.errors import InputError
from edge.events.record import Event

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    session TEXT NOT NULL DEFAULT '',
    onset_utc TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    payload TEXT NOT NULL,
    delivered REAL,
    refused INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS events_pending ON events(delivered, refused, seq);
CREATE INDEX IF NOT EXISTS events_session ON events(session, seq);
CREATE INDEX IF NOT EXISTS events_onset ON events(onset_utc);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    started TEXT NOT NULL,
    stopped TEXT,
    changed REAL NOT NULL
);
"""

# Persisted counters (never reset): what left the outbox other than by delivery.
COUNTERS = ("evicted_delivered", "evicted_undelivered", "expired_delivered", "expired_undelivered",
            "refused", "erased", "accepted")


class OutboxError(InputError):
    """The outbox file cannot be opened or is not an outbox."""


@dataclass(frozen=True)
class OutboxStats:
    """What health reports and `microexpr outbox show` print."""

    depth: int  # undelivered events, refused ones included
    oldest_undelivered_age_s: float | None
    evicted_delivered: int
    evicted_undelivered: int
    size_bytes: int  # database + WAL on disk
    total: int  # events stored now, delivered or not
    refused: int = 0  # stored events the broker refused (kept, not retried until requeued)
    expired_delivered: int = 0
    expired_undelivered: int = 0
    erased: int = 0  # erased on request (erase_session)
    accepted: int = 0  # events ever put

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


def utc_now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def canonical_utc(text: str, end: bool = False) -> str:
    """Any ISO 8601 time -> the record's form ``YYYY-MM-DDTHH:MM:SS.mmmZ`` so strings compare as times.

    Naive times are taken as UTC; with ``end`` a time without sub-seconds covers its whole second.
    """
    try:
        t = datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError:
        raise InputError(f"time {text!r}: expected ISO 8601 like 2026-11-29T10:00:00Z") from None
    if t.tzinfo is not None:
        t = t.astimezone(timezone.utc)
    out = t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
    if end and "." not in text:
        out = out[:-3] + "999"
    return out + "Z"


class Outbox:
    """Durable, bounded event buffer in ``<data_dir>/outbox.sqlite3``."""

    def __init__(
        self,
        path: str | Path,
        max_mb: float = 256.0,
        max_events: int = 200_000,
        max_age_days: float = 30.0,
        *,
        device: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self.max_bytes = int(max_mb * 1024 * 1024)
        self.max_events = int(max_events)
        self.max_age_s = float(max_age_days) * 86400.0
        self.device = device
        self._clock = clock
        self._lock = threading.RLock()
        self._last_retention = 0.0
        self._last_evict_log = float("-inf")
        self._evicted_unlogged = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(str(self.path), timeout=10.0, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA busy_timeout=10000")
            page = self._db.execute("PRAGMA page_size").fetchone()[0]
            # Keep the WAL small relative to the cap so database + WAL stay under it.
            wal_pages = max(16, min(1000, self.max_bytes // page // 8))
            self._db.execute(f"PRAGMA wal_autocheckpoint={wal_pages}")
            self._db.execute(f"PRAGMA journal_size_limit={wal_pages * page}")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as e:
            raise OutboxError(f"{self.path}: not a usable outbox database ({e})") from None
        self._page_size = page
        self.enforce()

    # ---- writing -------------------------------------------------------------

    def put(self, event: Event | dict[str, Any]) -> int:
        """Commit one event durably (fsync'd) and return its sequence number.

        A missing ``session`` is filled from the running session and a missing
        ``device`` from this outbox's device id. Putting an id twice is a no-op.
        """
        d = event.to_dict() if isinstance(event, Event) else dict(event)
        if not d.get("id"):
            raise ValueError("event has no id")
        d.setdefault("schema", 1)
        with self._lock:
            if not d.get("session"):
                cur = self.current_session()
                d["session"] = cur["id"] if cur else ""
            if not d.get("device"):
                d["device"] = self.device
            now = self._clock()
            self._db.execute("BEGIN IMMEDIATE")
            try:
                cur = self._db.execute(
                    "INSERT OR IGNORE INTO events(id, session, onset_utc, created, payload) VALUES (?,?,?,?,?)",
                    (d["id"], d["session"], str(d.get("onset_utc", "")), now, json.dumps(d, separators=(",", ":"))),
                )
                if cur.rowcount:
                    seq = int(cur.lastrowid)
                    self._bump("accepted", 1)
                else:
                    seq = int(self._db.execute("SELECT seq FROM events WHERE id=?", (d["id"],)).fetchone()[0])
                self._evict_locked()
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            if now - self._last_retention > 60.0:
                self.enforce()
            return seq

    def mark_delivered(self, seq: int) -> None:
        """The broker acknowledged this event with a success reason code."""
        with self._lock:
            self._db.execute("UPDATE events SET delivered=?, refused=0 WHERE seq=? AND delivered IS NULL",
                             (self._clock(), seq))

    def mark_refused(self, seq: int) -> None:
        """The broker refused this event (PUBACK reason >= 0x80): keep it, stop retrying, count it."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            cur = self._db.execute("UPDATE events SET refused=1 WHERE seq=? AND delivered IS NULL AND refused=0",
                                   (seq,))
            if cur.rowcount:
                self._bump("refused", 1)
            self._db.execute("COMMIT")

    def requeue_refused(self) -> int:
        """Make refused events pending again (e.g. after the broker's ACL was fixed)."""
        with self._lock:
            return self._db.execute("UPDATE events SET refused=0 WHERE refused=1 AND delivered IS NULL").rowcount

    def erase_session(self, session: str) -> int:
        """Erase every event of a session and the session itself (privacy request)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            n = self._db.execute("DELETE FROM events WHERE session=?", (session,)).rowcount
            self._db.execute("DELETE FROM sessions WHERE id=?", (session,))
            self._bump("erased", n)
            self._db.execute("COMMIT")
            log.info("erased session %s: %s events", session, n)
            return n

    # ---- reading -------------------------------------------------------------

    def pending(self, limit: int = 100) -> list[tuple[int, dict[str, Any]]]:
        """Undelivered, not refused events, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, payload FROM events WHERE delivered IS NULL AND refused=0 ORDER BY seq LIMIT ?",
                (int(limit),),
            ).fetchall()
        return [(int(s), json.loads(p)) for s, p in rows]

    def events(
        self,
        session: str | None = None,
        since_utc: str | None = None,
        until_utc: str | None = None,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        """Stored events newest first; times filter on ``onset_utc`` (ISO strings, inclusive)."""
        where, args = [], []
        if session is not None:
            where.append("session=?")
            args.append(session)
        if since_utc:
            where.append("onset_utc>=?")
            args.append(canonical_utc(since_utc))
        if until_utc:
            where.append("onset_utc<=?")
            args.append(canonical_utc(until_utc, end=True))
        sql = "SELECT payload FROM events" + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY seq DESC LIMIT ?"
        with self._lock:
            rows = self._db.execute(sql, (*args, int(limit))).fetchall()
        return [json.loads(p) for (p,) in rows]

    def rows(self, limit: int = 1000) -> list[dict[str, Any]]:
        """Newest first with delivery state, for `microexpr outbox show`."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, created, delivered, refused, payload FROM events ORDER BY seq DESC LIMIT ?",
                (int(limit),),
            ).fetchall()
        out = []
        for seq, created, delivered, refused, payload in rows:
            state = "delivered" if delivered is not None else ("refused" if refused else "pending")
            out.append({"seq": seq, "created": created, "state": state, "event": json.loads(payload)})
        return out

    def get(self, event_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT payload FROM events WHERE id=?", (event_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def ids(self) -> set[str]:
        """Every stored event id (tests and audits)."""
        with self._lock:
            return {r[0] for r in self._db.execute("SELECT id FROM events")}

    def stats(self) -> OutboxStats:
        with self._lock:
            depth, oldest = self._db.execute(
                "SELECT COUNT(*), MIN(created) FROM events WHERE delivered IS NULL").fetchone()
            total = self._db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
            refused = self._db.execute(
                "SELECT COUNT(*) FROM events WHERE delivered IS NULL AND refused=1").fetchone()[0]
            c = self._counters()
        return OutboxStats(
            depth=int(depth),
            oldest_undelivered_age_s=None if oldest is None else max(0.0, round(self._clock() - oldest, 3)),
            evicted_delivered=c["evicted_delivered"],
            evicted_undelivered=c["evicted_undelivered"],
            size_bytes=self.size_on_disk(),
            total=int(total),
            refused=int(refused),
            expired_delivered=c["expired_delivered"],
            expired_undelivered=c["expired_undelivered"],
            erased=c["erased"],
            accepted=c["accepted"],
        )

    def size_on_disk(self) -> int:
        size = 0
        for suffix in ("", "-wal"):
            p = Path(str(self.path) + suffix)
            if p.exists():
                size += p.stat().st_size
        return size

    # ---- sessions ------------------------------------------------------------

    def start_session(self, session_id: str) -> dict[str, Any]:
        """Start (or restart) a session; a different running session is stopped first."""
        if not session_id:
            raise ValueError("session id is empty")
        with self._lock:
            now = utc_now_iso()
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("UPDATE sessions SET state='stopped', stopped=?, changed=? "
                             "WHERE state='running' AND id<>?", (now, self._clock(), session_id))
            if not self._db.execute("SELECT 1 FROM sessions WHERE id=? AND state='running'", (session_id,)).fetchone():
                self._db.execute(
                    "INSERT INTO sessions(id, state, started, stopped, changed) VALUES (?, 'running', ?, NULL, ?) "
                    "ON CONFLICT(id) DO UPDATE SET state='running', started=excluded.started, stopped=NULL, "
                    "changed=excluded.changed", (session_id, now, self._clock()))
            self._db.execute("COMMIT")
            return self._session_row("id=?", (session_id,))  # type: ignore[return-value]

    def stop_session(self) -> dict[str, Any] | None:
        """Stop the running session; returns it, or None when none was running."""
        with self._lock:
            cur = self.current_session()
            if cur is None:
                return None
            self._db.execute("UPDATE sessions SET state='stopped', stopped=?, changed=? WHERE id=?",
                             (utc_now_iso(), self._clock(), cur["id"]))
            return self._session_row("id=?", (cur["id"],))

    def current_session(self) -> dict[str, Any] | None:
        """The running session, or None."""
        return self._session_row("state='running'", ())

    def latest_session(self) -> dict[str, Any] | None:
        """The most recently changed session, running or stopped (the retained MQTT state)."""
        return self._session_row("1", ())

    def sessions(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT id, state, started, stopped FROM sessions ORDER BY changed DESC").fetchall()
        return [{"id": i, "state": s, "started": a, "stopped": b} for i, s, a, b in rows]

    def _session_row(self, where: str, args: tuple[Any, ...]) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT id, state, started, stopped FROM sessions WHERE {where} ORDER BY changed DESC, rowid DESC "
                "LIMIT 1", args).fetchone()
        if row is None:
            return None
        return {"id": row[0], "state": row[1], "started": row[2], "stopped": row[3]}

    # ---- bounds --------------------------------------------------------------

    def enforce(self) -> None:
        """Apply retention by age and the size/count caps now."""
        with self._lock:
            self._last_retention = self._clock()
            cutoff = self._clock() - self.max_age_s
            self._db.execute("BEGIN IMMEDIATE")
            d = self._db.execute("DELETE FROM events WHERE created<? AND delivered IS NOT NULL", (cutoff,)).rowcount
            u = self._db.execute("DELETE FROM events WHERE created<? AND delivered IS NULL", (cutoff,)).rowcount
            self._bump("expired_delivered", d)
            self._bump("expired_undelivered", u)
            self._evict_locked()
            self._db.execute("COMMIT")
            if u:
                log.warning("outbox retention: %s undelivered events older than %.1f days erased",
                            u, self.max_age_s / 86400)

    def _used_bytes(self) -> int:
        pages = self._db.execute("PRAGMA page_count").fetchone()[0]
        free = self._db.execute("PRAGMA freelist_count").fetchone()[0]
        return (pages - free) * self._page_size

    def _evict_locked(self) -> None:
        """Inside a write transaction: delivered first, then oldest undelivered, until under both caps."""
        # The database file never shrinks, freed pages are reused; keep used pages
        # under the cap minus WAL headroom so database + WAL stay under the cap.
        # Past the high-water mark, evict down to the low-water mark in one go so
        # a full outbox does not pay for eviction on every put.
        high, low = int(self.max_bytes * 0.8), int(self.max_bytes * 0.7)
        size_target = low if self._used_bytes() > high else high
        while True:
            count = self._db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
            over_count = count - self.max_events
            over_size = self._used_bytes() > size_target
            if over_count <= 0 and not over_size:
                return
            n = max(over_count, max(1, count // 20) if over_size else 0)
            if count == 0:
                return
            d = self._db.execute(
                "DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE delivered IS NOT NULL "
                "ORDER BY seq LIMIT ?)", (n,)).rowcount
            self._bump("evicted_delivered", d)
            u = 0
            if d < n:
                u = self._db.execute(
                    "DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE delivered IS NULL "
                    "ORDER BY seq LIMIT ?)", (n - d,)).rowcount
                self._bump("evicted_undelivered", u)
                self._warn_evicted(u)
            if d + u == 0:
                return

    def _warn_evicted(self, n: int) -> None:
        """At most one warning a minute while full, with the count since the last one."""
        self._evicted_unlogged += n
        now = self._clock()
        if now - self._last_evict_log >= 60.0:
            log.warning("outbox full (%.0f MiB / %s events): evicted %s undelivered events, oldest first",
                        self.max_bytes / 2**20, self.max_events, self._evicted_unlogged)
            self._evicted_unlogged = 0
            self._last_evict_log = now

    def _bump(self, name: str, n: int) -> None:
        if n:
            self._db.execute("INSERT INTO counters(name, value) VALUES (?, ?) "
                             "ON CONFLICT(name) DO UPDATE SET value=value+excluded.value", (name, n))

    def _counters(self) -> dict[str, int]:
        c = dict.fromkeys(COUNTERS, 0)
        c.update({k: int(v) for k, v in self._db.execute("SELECT name, value FROM counters")})
        return c

    def close(self) -> None:
        with self._lock:
            try:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.OperationalError:
                pass
            self._db.close()

    def __enter__(self) -> "Outbox":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_outbox(cfg: Any) -> Outbox:
    """The configured outbox: ``<data_dir>/outbox.sqlite3`` with the configured caps."""
    return Outbox(cfg.data_dir / "outbox.sqlite3", cfg.outbox.max_mb, cfg.outbox.max_events,
                  cfg.outbox.max_age_days, device=cfg.device_id)
