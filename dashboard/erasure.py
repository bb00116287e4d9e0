"""Erasure and retention in the central store, each erasure recorded with who asked for it.

The central store holds copies of events the units delivered (sensitive data
about people's emotions). An operator erases one interview session or
everything of one device; the retention pass erases what is older than
``dashboard.retention_days`` or beyond ``dashboard.retention_max_events``. Each
erasure that removed something leaves one row in ``erasures`` (when, what, how
many, who asked) and nothing of the erased events themselves.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from dashboard.records import format_utc, utc_now
from edge.errors import InputError

log = logging.getLogger("dashboard.access")

ERASURE_SCHEMA = """
CREATE INDEX IF NOT EXISTS events_received ON events (received_utc);
CREATE TABLE IF NOT EXISTS erasures (
    seq {identity},
    at_utc TEXT NOT NULL,
    scope TEXT NOT NULL,
    target TEXT NOT NULL,
    device TEXT NOT NULL,
    events INTEGER NOT NULL,
    requested_by TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

RECORD = ("INSERT INTO erasures (at_utc, scope, target, device, events, requested_by) "
          "SELECT ?, ?, ?, ?, COUNT(*), ? FROM events WHERE {where}")


class ErasureError(InputError):
    """An erasure request that cannot be carried out as asked (one clear line)."""


@dataclass(frozen=True)
class Erasure:
    """One recorded erasure: scope is ``session``, ``device`` or ``retention``."""

    at_utc: str
    scope: str
    target: str
    device: str
    events: int
    requested_by: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _who(requested_by: str) -> str:
    who = " ".join(requested_by.split())
    if not who:
        raise ErasureError("requested_by: say who asked for the erasure (a name, a ticket)")
    return who[:200]


class ErasureMixin:
    """Erase, retain and keep secrets on a SqlStore (``_transaction`` and ``_rows`` come from it)."""

    _transaction: Callable[[list[tuple[str, Sequence[Sequence[Any]]]]], list[int]]
    _rows: Callable[..., list[tuple[Any, ...]]]

    def shared_secret(self, name: str, make: Callable[[], str]) -> str:
        """A named secret kept in the store; the first instance's ``make()`` wins and all share it."""
        self._transaction([("INSERT INTO secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
                            [(name, make())])])
        return str(self._rows("SELECT value FROM secrets WHERE name = ?", [name])[0][0])

    def _erase(self, scope: str, target: str, device: str, who: str, where: str, params: list[Any]) -> Erasure:
        at = utc_now()
        statements: list[tuple[str, Sequence[Sequence[Any]]]] = [
            (RECORD.format(where=where), [(at, scope, target, device, who, *params)]),
            (f"DELETE FROM events WHERE {where}", [params]),
        ]
        if scope == "device":
            statements.append(("DELETE FROM devices WHERE id = ?", [(device,)]))
        erased = self._transaction(statements)[1]
        log.warning("erased %d events from the central store (%s %s%s), requested by %s",
                    erased, scope, target, f" on {device}" if device and scope == "session" else "", who)
        return Erasure(at, scope, target, device, erased, who)

    def erase_session(self, session: str, requested_by: str, device: str = "") -> Erasure:
        """Erase one interview session's events (on one device, or on all); recorded with who asked."""
        who = _who(requested_by)
        if not session:
            raise ErasureError("session: give the interview session id to erase")
        where, params = "session = ?", [session]
        if device:
            where, params = "session = ? AND device = ?", [session, device]
        return self._erase("session", session, device, who, where, params)

    def erase_device(self, device: str, requested_by: str) -> Erasure:
        """Erase every event of one device and its fleet row (it returns with its next status or health)."""
        who = _who(requested_by)
        if not device:
            raise ErasureError("device: give the device id to erase")
        return self._erase("device", device, device, who, "device = ?", [device])

    def apply_retention(self, max_age_days: float, max_events: int, now: datetime | None = None) -> list[Erasure]:
        """Erase events received before ``max_age_days`` ago, then the oldest beyond ``max_events``."""
        if not max_age_days > 0 or max_events < 1:
            raise ErasureError("retention: max_age_days must be more than 0 and max_events at least 1")
        cutoff = format_utc((now or datetime.now(UTC)) - timedelta(days=max_age_days))
        done = []
        if self._rows("SELECT COUNT(*) FROM events WHERE received_utc < ?", [cutoff])[0][0]:
            why = f"retention policy (older than {max_age_days:g} days)"
            done.append(self._erase("retention", f"received before {cutoff}", "", why, "received_utc < ?", [cutoff]))
        top = self._rows("SELECT seq FROM events ORDER BY seq DESC LIMIT 1 OFFSET ?", [max_events])
        if top:
            done.append(self._erase("retention", f"beyond the newest {max_events}", "",
                                    f"retention policy (at most {max_events} events)", "seq <= ?", [int(top[0][0])]))
        return done

    def erasures(self, limit: int = 200) -> list[Erasure]:
        """The newest recorded erasures first."""
        rows = self._rows("SELECT at_utc, scope, target, device, events, requested_by FROM erasures "
                          "ORDER BY seq DESC LIMIT ?", [limit])
        return [Erasure(r[0], r[1], r[2], r[3], int(r[4]), r[5]) for r in rows]
