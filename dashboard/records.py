"""What the dashboard stores and shows: query filters, device and session views.

Kept apart from the stores so the SQL stores, the local outbox adapter and the
web routes agree on one shape.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from edge.errors import InputError
from edge.events.record import EMOTIONS, EVENT_TYPES


class QueryError(InputError):
    """A search parameter is malformed; the message names it."""


def utc_now() -> str:
    return format_utc(datetime.now(UTC))


def format_utc(t: datetime) -> str:
    """The one text form of a time in the stores: sortable as a string."""
    t = t.astimezone(UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def normalise_utc(value: str, name: str = "time") -> str:
    """Parse an ISO 8601 time (Z or offset; naive means UTC) into the stored form."""
    try:
        t = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except (ValueError, AttributeError):
        raise QueryError(f"{name}: not an ISO 8601 time: {value!r}") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return format_utc(t)


def parse_utc(value: str) -> datetime:
    return datetime.fromisoformat(value)


@dataclass(frozen=True)
class EventQuery:
    """Filters of the searchable event list; all optional, combined with AND."""

    device: str = ""
    session: str = ""
    emotion: str = ""
    type: str = ""
    since_utc: str = ""
    until_utc: str = ""
    min_confidence: float = 0.0
    limit: int = 200
    offset: int = 0

    @classmethod
    def from_params(cls, params: Any) -> EventQuery:
        """Build from URL query parameters; bad values raise QueryError naming them."""
        def num(name: str, default: float, lo: float, hi: float, typ: type = float) -> Any:
            raw = (params.get(name) or "").strip()
            if not raw:
                return default
            try:
                v = typ(raw)
            except ValueError:
                raise QueryError(f"{name}: expected a number, got {raw!r}") from None
            if not lo <= v <= hi:
                raise QueryError(f"{name}: must be between {lo} and {hi}, got {raw}")
            return v

        emotion = (params.get("emotion") or "").strip()
        if emotion and emotion not in EMOTIONS:
            raise QueryError(f"emotion: must be one of {', '.join(EMOTIONS)}, got {emotion!r}")
        typ = (params.get("type") or "").strip()
        if typ and typ not in EVENT_TYPES:
            raise QueryError(f"type: must be micro or macro, got {typ!r}")
        since = (params.get("since") or "").strip()
        until = (params.get("until") or "").strip()
        return cls(
            device=(params.get("device") or "").strip(),
            session=(params.get("session") or "").strip(),
            emotion=emotion,
            type=typ,
            since_utc=normalise_utc(since, "since") if since else "",
            until_utc=normalise_utc(until, "until") if until else "",
            min_confidence=num("min_confidence", 0.0, 0.0, 1.0),
            limit=num("limit", 200, 1, 1000, int),
            offset=num("offset", 0, 0, 10_000_000, int),
        )

    def matches(self, e: dict[str, Any]) -> bool:
        """The same filter in Python, for stores without SQL (the local outbox)."""
        apex = str(e.get("apex_utc", ""))
        return (
            (not self.device or e.get("device") == self.device)
            and (not self.session or e.get("session") == self.session)
            and (not self.emotion or e.get("emotion") == self.emotion)
            and (not self.type or e.get("type") == self.type)
            and (not self.since_utc or apex >= self.since_utc)
            and (not self.until_utc or apex <= self.until_utc)
            and float(e.get("confidence", 0.0)) >= self.min_confidence
        )


@dataclass
class DeviceRow:
    """What the store knows about one device, raw."""

    id: str
    status: str = "unknown"  # online | offline | unknown (no retained status yet)
    status_utc: str = ""
    last_seen_utc: str = ""
    site: str = ""
    room: str = ""
    health: dict[str, Any] = field(default_factory=dict)
    health_utc: str = ""
    session: dict[str, Any] = field(default_factory=dict)


# Thresholds for "degraded": a device that is up but not doing its job well.
HOT_C = 80.0
MAX_DROPPED_FRACTION = 0.05
MAX_UNDELIVERED_AGE_S = 300.0
STALE_HEALTH_S = 60.0


def device_view(row: DeviceRow, now: datetime) -> dict[str, Any]:
    """Flatten a device for the fleet table, deciding online/offline/degraded and why."""
    h = row.health
    outbox = h.get("outbox") or {}
    latency = h.get("latency_ms") or {}
    total = latency.get("total") or {}
    if not total and latency:
        total = {q: round(sum(float((s or {}).get(q) or 0.0) for s in latency.values()), 2) for q in ("p50", "p99")}
    reasons: list[str] = []
    if row.status == "online":
        camera = h.get("camera")
        if camera and camera not in ("ok", "replay", "off"):
            reasons.append(f"camera {camera}")
        throttled = h.get("throttled")
        if throttled:
            reasons.append(f"throttled (0x{throttled:x})" if isinstance(throttled, int) else "throttled")
        temp = h.get("cpu_temp_c")
        if isinstance(temp, (int, float)) and temp >= HOT_C:
            reasons.append(f"hot {temp:.0f} °C")
        frames_in = h.get("frames_in") or 0
        dropped = h.get("frames_dropped") or 0
        if frames_in and dropped / frames_in > MAX_DROPPED_FRACTION:
            reasons.append(f"dropping {100 * dropped / frames_in:.0f}% of frames")
        age = outbox.get("oldest_undelivered_age_s")
        if isinstance(age, (int, float)) and age > MAX_UNDELIVERED_AGE_S:
            reasons.append(f"backlog {age:.0f} s old")
        if outbox.get("refused"):
            reasons.append(f"{outbox['refused']} events refused by the broker")
        if row.health_utc and (now - parse_utc(row.health_utc)).total_seconds() > STALE_HEALTH_S:
            reasons.append("no recent health report")
    state = row.status if row.status != "online" else ("degraded" if reasons else "online")
    return {
        "id": row.id,
        "status": row.status,
        "state": state,
        "reasons": reasons,
        "status_utc": row.status_utc,
        "last_seen_utc": row.last_seen_utc,
        "site": row.site or h.get("site") or "",
        "room": row.room or h.get("room") or "",
        "fps": h.get("fps_processed"),
        "fps_in": h.get("fps_in"),
        "frames_dropped": h.get("frames_dropped"),
        "latency_p50_ms": total.get("p50"),
        "latency_p99_ms": total.get("p99"),
        "cpu_temp_c": h.get("cpu_temp_c"),
        "camera": h.get("camera", ""),
        "outbox_depth": outbox.get("depth"),
        "outbox_oldest_s": outbox.get("oldest_undelivered_age_s"),
        "versions": h.get("versions") or {},
        "session": row.session,
        "health_utc": row.health_utc,
    }


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True)
