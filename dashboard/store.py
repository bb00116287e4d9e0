"""The dashboard's own store: SQLite by default, PostgreSQL to share one among instances.

One small interface (``Store``) over both; the SQL is the same text with the
placeholder and identity column swapped. Each event is stored once by its id
(``INSERT ... ON CONFLICT DO NOTHING``) so redeliveries and duplicates from the
broker, or from two instances, cannot double-count.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

from dashboard.erasure import ERASURE_SCHEMA, Erasure, ErasureMixin
from dashboard.records import DeviceRow, EventQuery, dumps, normalise_utc
from edge.errors import InputError

log = logging.getLogger(__name__)


class StoreError(InputError):
    """The store URL is unusable or the database cannot be opened."""


class Store(Protocol):
    """What the web app and the ingester need from a store."""

    def add_events(self, events: Sequence[dict[str, Any]], received_utc: str) -> int: ...
    def set_status(self, device: str, status: str, at_utc: str, live: bool) -> None: ...
    def set_health(self, device: str, health: dict[str, Any], at_utc: str) -> None: ...
    def set_session(self, device: str, session: dict[str, Any], at_utc: str, live: bool) -> None: ...
    def devices(self) -> list[DeviceRow]: ...
    def query_events(self, q: EventQuery) -> list[dict[str, Any]]: ...
    def count_events(self, q: EventQuery | None = None) -> int: ...
    def event(self, event_id: str) -> dict[str, Any] | None: ...
    def recent_events(self, cursor: int | None, limit: int = 200) -> tuple[int, list[dict[str, Any]]]: ...
    def sessions(self, limit: int = 200) -> list[dict[str, Any]]: ...
    def session_events(self, session: str, limit: int = 10_000) -> list[dict[str, Any]]: ...
    def close(self) -> None: ...


class CentralStore(Store, Protocol):
    """The central store also erases, keeps retention and a shared secret (dashboard/erasure.py)."""

    def erase_session(self, session: str, requested_by: str, device: str = "") -> Erasure: ...
    def erase_device(self, device: str, requested_by: str) -> Erasure: ...
    def apply_retention(self, max_age_days: float, max_events: int) -> list[Erasure]: ...
    def erasures(self, limit: int = 200) -> list[Erasure]: ...


EVENT_COLUMNS = (
    "id", "device", "session", "type", "emotion", "confidence",
    "onset_utc", "apex_utc", "offset_utc", "duration_ms", "received_utc", "body",
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq {identity},
    id TEXT NOT NULL UNIQUE,
    device TEXT NOT NULL,
    session TEXT NOT NULL,
    type TEXT NOT NULL,
    emotion TEXT NOT NULL,
    confidence REAL NOT NULL,
    onset_utc TEXT NOT NULL,
    apex_utc TEXT NOT NULL,
    offset_utc TEXT NOT NULL,
    duration_ms REAL NOT NULL,
    received_utc TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_apex ON events (apex_utc);
CREATE INDEX IF NOT EXISTS events_device_apex ON events (device, apex_utc);
CREATE INDEX IF NOT EXISTS events_session_apex ON events (session, apex_utc);
CREATE INDEX IF NOT EXISTS events_emotion_apex ON events (emotion, apex_utc);
CREATE TABLE IF NOT EXISTS devices (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL DEFAULT 'unknown',
    status_utc TEXT NOT NULL DEFAULT '',
    last_seen_utc TEXT NOT NULL DEFAULT '',
    site TEXT NOT NULL DEFAULT '',
    room TEXT NOT NULL DEFAULT '',
    health TEXT NOT NULL DEFAULT '{{}}',
    health_utc TEXT NOT NULL DEFAULT '',
    session TEXT NOT NULL DEFAULT '{{}}'
);
"""

# Identity values re-read by the live feed: PostgreSQL may commit a
# lower seq after a higher one when two instances write at once.
LOOKBACK_SEQ = 200


def event_row(e: dict[str, Any], received_utc: str) -> tuple[Any, ...]:
    """The indexed columns of one validated event, times in the stored form."""
    return (
        str(e["id"]), str(e.get("device", "")), str(e.get("session", "")), str(e["type"]),
        str(e.get("emotion", "")), float(e["confidence"]),
        normalise_utc(e["onset_utc"]), normalise_utc(e["apex_utc"]), normalise_utc(e["offset_utc"]),
        float(e["duration_ms"]), received_utc, dumps(e),
    )


class SqlStore(ErasureMixin):
    """The store on a DB-API connection; subclasses supply the dialect."""

    placeholder = "?"
    identity = "INTEGER PRIMARY KEY AUTOINCREMENT"
    greatest = "MAX"

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self._lock = threading.Lock()
        self._create()

    # -- plumbing ---------------------------------------------------------
    def _sql(self, text: str) -> str:
        return text if self.placeholder == "?" else text.replace("?", self.placeholder)

    def _create(self) -> None:
        with self._lock:
            script = (SCHEMA + ERASURE_SCHEMA).format(identity=self.identity)
            self._executescript(script)

    def _executescript(self, script: str) -> None:
        raise NotImplementedError

    def _rows(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            cur = self._conn.execute(self._sql(sql), tuple(params))
            return list(cur.fetchall())

    def _transaction(self, statements: list[tuple[str, Sequence[Sequence[Any]]]]) -> list[int]:
        """Run each statement over its rows in one transaction; rows affected per statement."""
        raise NotImplementedError

    def _write(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        return self._transaction([(sql, rows)])[0]

    # -- writes -----------------------------------------------------------
    def add_events(self, events: Sequence[dict[str, Any]], received_utc: str) -> int:
        """Insert new events, ignore known ids; returns how many were new.

        Events and their devices' last-seen go in one transaction, rows in id
        order, so two instances writing at once take locks in the same order.
        """
        if not events:
            return 0
        rows = sorted((event_row(e, received_utc) for e in events), key=lambda r: r[0])
        devices = sorted({(r[1], received_utc) for r in rows})
        cols = ", ".join(EVENT_COLUMNS)
        marks = ", ".join("?" * len(EVENT_COLUMNS))
        inserted, _ = self._transaction([
            (f"INSERT INTO events ({cols}) VALUES ({marks}) ON CONFLICT (id) DO NOTHING", rows),
            (("INSERT INTO devices (id, last_seen_utc) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET "
              f"last_seen_utc = {self.greatest}(devices.last_seen_utc, excluded.last_seen_utc)"), devices),
        ])
        return inserted

    def set_status(self, device: str, status: str, at_utc: str, live: bool) -> None:
        seen = at_utc if live and status == "online" else ""
        self._write(
            "INSERT INTO devices (id, status, status_utc, last_seen_utc) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET status = excluded.status, status_utc = excluded.status_utc, "
            f"last_seen_utc = {self.greatest}(devices.last_seen_utc, excluded.last_seen_utc)",
            [(device, status, at_utc, seen)],
        )

    def set_health(self, device: str, health: dict[str, Any], at_utc: str) -> None:
        self._write(
            "INSERT INTO devices (id, site, room, health, health_utc, last_seen_utc) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET site = excluded.site, room = excluded.room, "
            "health = excluded.health, health_utc = excluded.health_utc, "
            f"last_seen_utc = {self.greatest}(devices.last_seen_utc, excluded.last_seen_utc)",
            [(device, str(health.get("site", "")), str(health.get("room", "")), dumps(health), at_utc, at_utc)],
        )

    def set_session(self, device: str, session: dict[str, Any], at_utc: str, live: bool) -> None:
        self._write(
            "INSERT INTO devices (id, session, last_seen_utc) VALUES (?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET session = excluded.session, "
            f"last_seen_utc = {self.greatest}(devices.last_seen_utc, excluded.last_seen_utc)",
            [(device, dumps(session), at_utc if live else "")],
        )

    # -- reads ------------------------------------------------------------
    def devices(self) -> list[DeviceRow]:
        rows = self._rows(
            "SELECT id, status, status_utc, last_seen_utc, site, room, health, health_utc, session "
            "FROM devices ORDER BY id"
        )
        return [
            DeviceRow(id=r[0], status=r[1], status_utc=r[2], last_seen_utc=r[3], site=r[4], room=r[5],
                      health=json.loads(r[6]), health_utc=r[7], session=json.loads(r[8]))
            for r in rows
        ]

    @staticmethod
    def _where(q: EventQuery) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        for col, value in (("device", q.device), ("session", q.session), ("emotion", q.emotion), ("type", q.type)):
            if value:
                clauses.append(f"{col} = ?")
                params.append(value)
        if q.since_utc:
            clauses.append("apex_utc >= ?")
            params.append(q.since_utc)
        if q.until_utc:
            clauses.append("apex_utc <= ?")
            params.append(q.until_utc)
        if q.min_confidence > 0:
            clauses.append("confidence >= ?")
            params.append(q.min_confidence)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def query_events(self, q: EventQuery) -> list[dict[str, Any]]:
        """Newest first by apex time."""
        where, params = self._where(q)
        rows = self._rows(
            f"SELECT body FROM events{where} ORDER BY apex_utc DESC, id LIMIT ? OFFSET ?",
            [*params, q.limit, q.offset],
        )
        return [json.loads(r[0]) for r in rows]

    def count_events(self, q: EventQuery | None = None) -> int:
        where, params = self._where(q or EventQuery())
        return int(self._rows(f"SELECT COUNT(*) FROM events{where}", params)[0][0])

    def event(self, event_id: str) -> dict[str, Any] | None:
        rows = self._rows("SELECT body FROM events WHERE id = ?", [event_id])
        return json.loads(rows[0][0]) if rows else None

    def recent_events(self, cursor: int | None, limit: int = 200) -> tuple[int, list[dict[str, Any]]]:
        """Events stored after ``cursor`` (None: none, just the current cursor), oldest first.

        Re-reads a window below the cursor; callers drop ids they already sent.
        """
        top = int(self._rows("SELECT COALESCE(MAX(seq), 0) FROM events")[0][0])
        if cursor is None:
            return top, []
        rows = self._rows(
            "SELECT seq, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
            [max(0, cursor - LOOKBACK_SEQ), limit + LOOKBACK_SEQ],
        )
        return max([top, *[r[0] for r in rows]]), [json.loads(r[1]) for r in rows]

    def sessions(self, limit: int = 200) -> list[dict[str, Any]]:
        rows = self._rows(
            "SELECT session, device, COUNT(*), MIN(onset_utc), MAX(offset_utc), "
            "SUM(CASE WHEN type = 'micro' THEN 1 ELSE 0 END) FROM events WHERE session <> '' "
            "GROUP BY session, device ORDER BY MAX(offset_utc) DESC LIMIT ?",
            [limit],
        )
        return [
            {"session": r[0], "device": r[1], "events": int(r[2]), "first_utc": r[3], "last_utc": r[4],
             "micro": int(r[5] or 0), "macro": int(r[2]) - int(r[5] or 0)}
            for r in rows
        ]

    def session_events(self, session: str, limit: int = 10_000) -> list[dict[str, Any]]:
        """Oldest first, for timelines and reports."""
        rows = self._rows(
            "SELECT body FROM events WHERE session = ? ORDER BY onset_utc, id LIMIT ?", [session, limit]
        )
        return [json.loads(r[0]) for r in rows]

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class SqliteStore(SqlStore):
    """One SQLite file in WAL mode; enough for a site or a single instance."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=5000")
        except sqlite3.Error as e:
            raise StoreError(f"dashboard.database: cannot open SQLite file {path} ({e})") from None
        self.path = path
        super().__init__(conn)

    def _executescript(self, script: str) -> None:
        self._conn.executescript(script)

    def _transaction(self, statements: list[tuple[str, Sequence[Sequence[Any]]]]) -> list[int]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                counts = [max(self._conn.executemany(sql, rows).rowcount, 0) for sql, rows in statements]
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            return counts


class PostgresStore(SqlStore):
    """PostgreSQL via psycopg 3, one store shared by several dashboard instances."""

    placeholder = "%s"
    identity = "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
    greatest = "GREATEST"

    def __init__(self, url: str) -> None:
        import psycopg

        try:
            conn = psycopg.connect(url, autocommit=True, connect_timeout=10)
        except psycopg.Error as e:
            raise StoreError(f"dashboard.database: cannot connect to PostgreSQL ({str(e).strip().splitlines()[0]})") from None
        super().__init__(conn)

    def _executescript(self, script: str) -> None:
        # Two instances starting together race on CREATE ... IF NOT EXISTS; a lock serialises them.
        with self._conn.transaction():
            self._conn.execute("SELECT pg_advisory_xact_lock(72616)")
            for stmt in filter(str.strip, script.split(";")):
                self._conn.execute(stmt)

    def _transaction(self, statements: list[tuple[str, Sequence[Sequence[Any]]]]) -> list[int]:
        with self._lock, self._conn.transaction():
            counts = []
            for sql, rows in statements:
                cur = self._conn.cursor()
                cur.executemany(self._sql(sql), rows)
                counts.append(max(cur.rowcount, 0))
            return counts


def open_store(url: str, data_dir: Path) -> SqlStore:
    """``""`` = SQLite in the data dir; ``sqlite:///path``; ``postgresql://...``."""
    if not url:
        return SqliteStore(data_dir / "dashboard.sqlite3")
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresStore(url)
    if url.startswith("sqlite://"):
        return SqliteStore(Path(url.removeprefix("sqlite://")))
    raise StoreError(f"dashboard.database: expected sqlite:///path or postgresql://..., got {url.split('@')[-1]!r}")
