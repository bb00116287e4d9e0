"""Interview sessions, stored in the outbox's database so events and their session commit together.

At most one session runs at a time; the latest one (running or stopped) is
what the unit publishes, retained, on ``<prefix>/<device>/session``.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    started TEXT NOT NULL,
    stopped TEXT,
    changed REAL NOT NULL
);
"""


def utc_now_iso() -> str:
    """Now as the records write it: ``YYYY-MM-DDTHH:MM:SS.mmmZ``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class SessionTable:
    """The ``sessions`` table on the outbox's connection, under the outbox's lock."""

    def __init__(self, db: sqlite3.Connection, lock: threading.RLock, clock: Callable[[], float]) -> None:
        self._db = db
        self._lock = lock
        self._clock = clock
        with self._lock:
            self._db.executescript(_SCHEMA)

    def start(self, session_id: str) -> dict[str, Any]:
        if not session_id:
            raise ValueError("session id is empty")
        with self._lock:
            now = utc_now_iso()
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("UPDATE sessions SET state='stopped', stopped=?, changed=? "
                                 "WHERE state='running' AND id<>?", (now, self._clock(), session_id))
                if not self._db.execute("SELECT 1 FROM sessions WHERE id=? AND state='running'",
                                        (session_id,)).fetchone():
                    self._db.execute(
                        "INSERT INTO sessions(id, state, started, stopped, changed) VALUES (?, 'running', ?, NULL, ?) "
                        "ON CONFLICT(id) DO UPDATE SET state='running', started=excluded.started, stopped=NULL, "
                        "changed=excluded.changed", (session_id, now, self._clock()))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return self._row("id=?", (session_id,))  # type: ignore[return-value]

    def stop(self) -> dict[str, Any] | None:
        with self._lock:
            cur = self.current()
            if cur is None:
                return None
            self._db.execute("UPDATE sessions SET state='stopped', stopped=?, changed=? WHERE id=?",
                             (utc_now_iso(), self._clock(), cur["id"]))
            return self._row("id=?", (cur["id"],))

    def current(self) -> dict[str, Any] | None:
        return self._row("state='running'", ())

    def latest(self) -> dict[str, Any] | None:
        return self._row("1", ())

    def all(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT id, state, started, stopped FROM sessions "
                                    "ORDER BY changed DESC, rowid DESC").fetchall()
        return [{"id": i, "state": s, "started": a, "stopped": b} for i, s, a, b in rows]

    def delete(self, session_id: str) -> None:
        """Inside the caller's transaction (erase_session)."""
        self._db.execute("DELETE FROM sessions WHERE id=?", (session_id,))

    def _row(self, where: str, args: tuple[Any, ...]) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT id, state, started, stopped FROM sessions WHERE {where} "
                "ORDER BY changed DESC, rowid DESC LIMIT 1", args).fetchone()
        if row is None:
            return None
        return {"id": row[0], "state": row[1], "started": row[2], "stopped": row[3]}
