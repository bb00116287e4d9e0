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
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Self

from edge.errors import InputError
from edge.events.eviction import evict_oldest, evict_to_caps
from edge.events.record import Event, canonical_utc
from edge.events.session import SessionTable, utc_now_iso

__all__ = ["Outbox", "OutboxError", "OutboxStats", "canonical_utc", "open_outbox", "utc_now_iso"]

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
        return asdict(self)


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
            self._sessions = SessionTable(self._db, self._lock, clock)
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
            try:
                seq = self._insert_locked(d, now)
            except sqlite3.OperationalError as e:
                if "full" not in str(e).lower():
                    raise
                # The disk (or the database's page limit) is full despite the caps:
                # make room the same way as when the outbox is full, then retry once.
                log.error("outbox %s: %s; evicting the oldest events to make room", self.path, e)
                while True:
                    if not self._make_room_locked():
                        raise OutboxError(f"{self.path}: cannot store event {d['id']} ({e})") from None
                    try:
                        seq = self._insert_locked(d, now)
                        break
                    except sqlite3.OperationalError as again:
                        if "full" not in str(again).lower():
                            raise
            if now - self._last_retention > 60.0:
                self.enforce()
            return seq

    def _insert_locked(self, d: dict[str, Any], now: float) -> int:
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
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise
        return seq

    def _make_room_locked(self) -> bool:
        """Evict a tenth (delivered first, then oldest undelivered), counted like any eviction; False if empty."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            count = self._db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
            d, u = evict_oldest(self._db, max(1, count // 10), self._bump)
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise
        if u:
            log.warning("outbox %s: evicted %s undelivered events to make room", self.path, u)
        return d + u > 0

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
        """Erase every event of a session and the session itself (privacy request).

        secure_delete zeroes the freed content and the WAL is checkpointed and
        truncated, so the erased records are not left readable in the file.
        """
        with self._lock:
            self._db.execute("PRAGMA secure_delete=ON")
            try:
                self._db.execute("BEGIN IMMEDIATE")
                n = self._db.execute("DELETE FROM events WHERE session=?", (session,)).rowcount
                self._sessions.delete(session)
                self._bump("erased", n)
                self._db.execute("COMMIT")
            finally:
                self._db.execute("PRAGMA secure_delete=OFF")
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
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

    # ---- sessions (same file; see edge/events/session.py) --------------------

    def start_session(self, session_id: str) -> dict[str, Any]:
        """Start (or restart) a session; a different running session is stopped first."""
        return self._sessions.start(session_id)

    def stop_session(self) -> dict[str, Any] | None:
        """Stop the running session; returns it, or None when none was running."""
        return self._sessions.stop()

    def current_session(self) -> dict[str, Any] | None:
        """The running session, or None."""
        return self._sessions.current()

    def latest_session(self) -> dict[str, Any] | None:
        """The most recently changed session, running or stopped (the retained MQTT state)."""
        return self._sessions.latest()

    def sessions(self) -> list[dict[str, Any]]:
        """All sessions, most recently changed first."""
        return self._sessions.all()

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

    def _evict_locked(self) -> None:
        """Inside a write transaction: bring the outbox under both caps (edge/events/eviction.py)."""
        u = evict_to_caps(self._db, self.max_bytes, self.max_events, self._page_size, self._bump)
        if u:
            self._warn_evicted(u)

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

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_outbox(cfg: Any) -> Outbox:
    """The configured outbox: ``<data_dir>/outbox.sqlite3`` with the configured caps."""
    return Outbox(cfg.data_dir / "outbox.sqlite3", cfg.outbox.max_mb, cfg.outbox.max_events,
                  cfg.outbox.max_age_days, device=cfg.device_id)
