"""The event record: the unit the spotter emits, the outbox stores and MQTT carries."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

EMOTIONS: tuple[str, ...] = (
    "anger", "contempt", "disgust", "fear", "happiness", "sadness", "surprise",
)
EVENT_TYPES: tuple[str, ...] = ("micro", "macro")
SCHEMA_VERSION = 1


def utc_iso(dt: datetime) -> str:
    """ISO 8601 UTC with milliseconds and a Z, the form every record time takes."""
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


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

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
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
