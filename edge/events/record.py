"""The event record: the unit the spotter emits, the outbox stores and MQTT carries."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from edge.errors import InputError

EMOTIONS: tuple[str, ...] = (
    "anger", "contempt", "disgust", "fear", "happiness", "sadness", "surprise",
)
EVENT_TYPES: tuple[str, ...] = ("micro", "macro")
SCHEMA_VERSION = 1


def utc_iso(dt: datetime) -> str:
    """ISO 8601 UTC with milliseconds and a Z, the form every record time takes."""
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


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


@dataclass(slots=True)
class Event:
    """One spotted facial expression, micro or macro.

    Times are wall-clock UTC ISO 8601 strings with milliseconds (``...Z``) so the
    record reads the same on the device, in the broker and in the dashboard; frame
    indices are 0-based and inclusive, as in the annotation CSV.
    """

    onset_frame: int
    apex_frame: int
    offset_frame: int
    onset_utc: str
    apex_utc: str
    offset_utc: str
    duration_ms: float
    type: str  # "micro" | "macro"
    emotion: str  # one of EMOTIONS, or "" when unknown
    confidence: float  # 0..1
    scores: dict[str, float]  # all seven EMOTIONS -> 0..1
    aus: dict[str, float]  # e.g. {"AU6": 0.4, "AU12": 0.7, "R14": 0.3}
    head_pose: dict[str, float]  # {"yaw": deg, "pitch": deg, "roll": deg} at apex
    versions: dict[str, str]  # {"software": ..., "models": ...}
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    video: str = ""  # source name (file name when replaying, "camera" when live)
    device: str = ""
    session: str = ""
    clock_synced: bool | None = None  # was the system clock synchronised (NTP)? None: not known, left out

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if d["clock_synced"] is None:
            del d["clock_synced"]
        d["schema"] = SCHEMA_VERSION
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Event":
        d = dict(d)
        d.pop("schema", None)
        return cls(**d)

    @property
    def aus_label(self) -> str:
        """AUs as the annotation CSV writes them, e.g. ``6+12`` or ``R12+R14``."""
        return "+".join(k.removeprefix("AU") for k in self.aus)
