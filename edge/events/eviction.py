"""The outbox's eviction policy, on its SQLite connection: delivered first, then the oldest undelivered.

Callers hold the outbox lock and an open write transaction; counts go to the
persisted counters so nothing leaves the outbox unrecorded.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

# Of the size cap, the used pages may reach HIGH before eviction starts, which
# then goes down to LOW in one go (a full outbox does not evict on every put).
# The remaining headroom is the WAL's, so database + WAL stay under the cap.
HIGH, LOW = 0.8, 0.7


def used_bytes(db: sqlite3.Connection, page_size: int) -> int:
    """Pages in use (the file never shrinks; freed pages are reused)."""
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    free = db.execute("PRAGMA freelist_count").fetchone()[0]
    return (pages - free) * page_size


def evict_oldest(db: sqlite3.Connection, n: int, bump: Callable[[str, int], None]) -> tuple[int, int]:
    """Delete up to n events, delivered ones first, then the oldest undelivered; returns (delivered, undelivered)."""
    d = db.execute("DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE delivered IS NOT NULL "
                   "ORDER BY seq LIMIT ?)", (n,)).rowcount
    u = 0
    if d < n:
        u = db.execute("DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE delivered IS NULL "
                       "ORDER BY seq LIMIT ?)", (n - d,)).rowcount
    bump("evicted_delivered", d)
    bump("evicted_undelivered", u)
    return d, u


def evict_to_caps(db: sqlite3.Connection, max_bytes: int, max_events: int, page_size: int,
                  bump: Callable[[str, int], None]) -> int:
    """Evict until under both caps; returns how many undelivered events went."""
    size_target = int(max_bytes * (LOW if used_bytes(db, page_size) > max_bytes * HIGH else HIGH))
    undelivered = 0
    while True:
        count = db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        over_count = count - max_events
        over_size = used_bytes(db, page_size) > size_target
        if count == 0 or (over_count <= 0 and not over_size):
            return undelivered
        d, u = evict_oldest(db, max(over_count, max(1, count // 20) if over_size else 0), bump)
        undelivered += u
        if d + u == 0:
            return undelivered
