"""Validation of the MQTT payloads the dashboard ingests (shapes in ARCHITECTURE.md).

Anything that fails here is counted and logged by the ingester, never stored.
The device-side JSON Schemas in edge/publish/schemas/ are applied (when
jsonschema is installed); the checks below always run, because the store relies on them (times it can
parse, a known emotion, an id, the topic's device matching the payload's).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from dashboard.records import QueryError, normalise_utc
from edge.events.record import EMOTIONS, EVENT_TYPES, SCHEMA_VERSION

log = logging.getLogger(__name__)

MAX_PAYLOAD_BYTES = 64 * 1024
KINDS = ("status", "health", "session", "events")


class PayloadError(ValueError):
    """Why a payload was rejected, in a few words."""


@dataclass(frozen=True)
class Message:
    """One accepted message: its device, kind and parsed payload."""

    device: str
    kind: str
    payload: Any


def load_schemas() -> dict[str, Any]:
    """kind -> the device side's jsonschema validator (edge/publish/schemas), when jsonschema is installed."""
    try:
        from edge.publish.schemas import validator
    except ImportError:
        return {}
    found: dict[str, Any] = {}
    for kind, name in (("events", "event"), ("health", "health"), ("session", "session")):
        try:
            found[kind] = validator(name)
        except ImportError:
            log.warning("jsonschema is not installed: payloads get the built-in checks only")
            return {}
        except Exception as e:  # noqa: BLE001  (a broken schema file must not stop ingest)
            log.warning("ignoring the %s schema: %s", name, e)
    return found


def parse_topic(topic: str, prefix: str) -> tuple[str, str]:
    """``<prefix>/<device>/<kind>`` -> (device, kind)."""
    head = prefix.rstrip("/") + "/"
    if not topic.startswith(head):
        raise PayloadError(f"topic outside prefix {prefix!r}")
    parts = topic[len(head):].split("/")
    if len(parts) != 2 or not parts[0] or parts[1] not in KINDS:
        raise PayloadError("unexpected topic")
    return parts[0], parts[1]


def _number(d: dict[str, Any], key: str, lo: float | None = None, hi: float | None = None) -> float:
    v = d.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise PayloadError(f"{key} must be a number")
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise PayloadError(f"{key} out of range")
    return float(v)


def _text(d: dict[str, Any], key: str, max_len: int = 200, required: bool = True) -> str:
    v = d.get(key, None if required else "")
    if not isinstance(v, str) or (required and not v) or len(v) > max_len:
        raise PayloadError(f"{key} must be a non-empty string" if required else f"{key} must be a string")
    return v


def _time(d: dict[str, Any], key: str) -> str:
    v = _text(d, key, 40)
    try:
        return normalise_utc(v, key)
    except QueryError:
        raise PayloadError(f"{key} is not an ISO 8601 time") from None


def check_event(e: Any, device: str) -> dict[str, Any]:
    if not isinstance(e, dict):
        raise PayloadError("event must be a JSON object")
    if e.get("schema") != SCHEMA_VERSION:
        raise PayloadError(f"schema must be {SCHEMA_VERSION}")
    _text(e, "id", 128)
    if _text(e, "device", 128) != device:
        raise PayloadError("device differs from the topic's")
    _text(e, "session", 200, required=False)
    if e.get("type") not in EVENT_TYPES:
        raise PayloadError("type must be micro or macro")
    if e.get("emotion", "") not in (*EMOTIONS, ""):
        raise PayloadError("unknown emotion")
    _number(e, "confidence", 0.0, 1.0)
    _number(e, "duration_ms", 0.0)
    for key in ("onset_frame", "apex_frame", "offset_frame"):
        if not isinstance(e.get(key), int) or isinstance(e.get(key), bool) or e[key] < 0:
            raise PayloadError(f"{key} must be a non-negative integer")
    onset, apex, offset = (_time(e, k) for k in ("onset_utc", "apex_utc", "offset_utc"))
    if not onset <= apex <= offset:
        raise PayloadError("times must satisfy onset <= apex <= offset")
    scores = e.get("scores", {})
    if not isinstance(scores, dict) or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in scores.values()
    ):
        raise PayloadError("scores must map emotions to numbers")
    return e


def check_health(h: Any, device: str) -> dict[str, Any]:
    if not isinstance(h, dict):
        raise PayloadError("health must be a JSON object")
    if h.get("device", device) != device:
        raise PayloadError("device differs from the topic's")
    for key in ("fps_in", "fps_processed", "frames_in", "frames_dropped", "cpu_temp_c", "uptime_s"):
        if key in h and h[key] is not None:
            _number(h, key)
    for key in ("outbox", "latency_ms", "versions"):
        if key in h and not isinstance(h[key], dict):
            raise PayloadError(f"{key} must be an object")
    for key in ("site", "room", "camera"):
        if key in h and not isinstance(h[key], str):
            raise PayloadError(f"{key} must be a string")
    return h


def check_session(s: Any) -> dict[str, Any]:
    if not isinstance(s, dict):
        raise PayloadError("session must be a JSON object")
    if s.get("state") not in ("running", "stopped"):
        raise PayloadError("state must be running or stopped")
    if not isinstance(s.get("id", ""), (str, type(None))):
        raise PayloadError("id must be a string")
    return s


class Validator:
    """Turns a raw MQTT message into a Message or a PayloadError."""

    def __init__(self, prefix: str, schemas: dict[str, Any] | None = None) -> None:
        self.prefix = prefix
        self.schemas = load_schemas() if schemas is None else schemas

    def check(self, topic: str, raw: bytes) -> Message:
        device, kind = parse_topic(topic, self.prefix)
        if len(raw) > MAX_PAYLOAD_BYTES:
            raise PayloadError(f"payload of {len(raw)} bytes exceeds {MAX_PAYLOAD_BYTES}")
        if kind == "status":
            text = raw.decode("utf-8", "replace").strip()
            if text not in ("online", "offline"):
                raise PayloadError("status must be online or offline")
            return Message(device, kind, text)
        try:
            payload = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise PayloadError("invalid JSON") from None
        schema = self.schemas.get(kind)
        if schema is not None:
            err = next(iter(schema.iter_errors(payload)), None)
            if err is not None:
                where = "/".join(str(p) for p in err.absolute_path) or "payload"
                raise PayloadError(f"schema: {where}: {err.message[:120]}")
        if kind == "events":
            payload = check_event(payload, device)
        elif kind == "health":
            payload = check_health(payload, device)
        else:
            payload = check_session(payload)
        return Message(device, kind, payload)
