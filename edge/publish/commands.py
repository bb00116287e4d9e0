"""Parse, validate and carry out the commands a unit receives on ``cmd/<name>``.

Pure of MQTT: `CommandHandler.handle(name, payload)` returns the reply, so the
parser is fuzzed directly. A bad command (unknown name, invalid JSON, wrong
types, out-of-range values, over `MAX_PAYLOAD` bytes) gets an error reply and
changes nothing; nothing raised by a payload escapes.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from edge.publish.topics import COMMAND_NAMES

log = logging.getLogger(__name__)

MAX_PAYLOAD = 4096
SESSION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$")

# Thresholds a command may change: name -> (low, high), inclusive. Mirrors edge/config.py SpottingConfig.
THRESHOLD_RANGES: dict[str, tuple[float, float]] = {
    "threshold": (1.0, 20.0),
    "min_micro_ms": (10.0, 1000.0),
    "max_micro_ms": (20.0, 2000.0),
    "max_macro_ms": (100.0, 20000.0),
}


class SessionStore(Protocol):
    def start_session(self, session_id: str) -> dict[str, Any]: ...
    def stop_session(self) -> dict[str, Any] | None: ...
    def current_session(self) -> dict[str, Any] | None: ...


class CommandError(ValueError):
    """A command that is refused; the message goes into the error reply."""


@dataclass(frozen=True)
class Reply:
    ok: bool
    command: str
    result: Any = None
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"ok": self.ok, "command": self.command}
        if self.ok:
            d["result"] = self.result
        else:
            d["error"] = self.error
        return d

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":")).encode()


def _reject_constant(name: str) -> Any:
    raise CommandError(f"invalid JSON: {name} is not a number")


def parse_payload(payload: bytes) -> dict[str, Any]:
    """Bytes -> JSON object, or CommandError saying why not."""
    if len(payload) > MAX_PAYLOAD:
        raise CommandError(f"payload too large: {len(payload)} bytes, limit {MAX_PAYLOAD}")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise CommandError("payload is not UTF-8") from None
    try:
        doc = json.loads(text, parse_constant=_reject_constant)
    except CommandError:
        raise
    except (ValueError, RecursionError) as e:
        raise CommandError(f"invalid JSON: {str(e)[:80]}") from None
    if not isinstance(doc, dict):
        raise CommandError(f"payload must be a JSON object, got {type(doc).__name__}")
    return doc


def _no_extra(doc: dict[str, Any], allowed: set[str]) -> None:
    extra = sorted(set(doc) - allowed)
    if extra:
        raise CommandError(f"unknown field {extra[0][:40]!r}")


def _number(doc: dict[str, Any], key: str) -> float:
    v = doc[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise CommandError(f"{key}: expected a number")
    lo, hi = THRESHOLD_RANGES[key]
    if not lo <= v <= hi:
        raise CommandError(f"{key}: must be between {lo:g} and {hi:g}, got {v:g}")
    return float(v)


def validate_command(name: str, doc: dict[str, Any]) -> dict[str, Any]:
    """Check one command's arguments; returns them normalised."""
    if name in ("start_session", "erase_session"):
        _no_extra(doc, {"id"})
        sid = doc.get("id")
        if not isinstance(sid, str):
            raise CommandError("id: expected a string")
        if not SESSION_ID.match(sid):
            raise CommandError("id: 1-64 characters of letters, digits and ._:@- (starting with a letter or digit)")
        return {"id": sid}
    if name in ("stop_session", "health"):
        _no_extra(doc, set())
        return {}
    if name == "set_thresholds":
        _no_extra(doc, set(THRESHOLD_RANGES))
        if not doc:
            raise CommandError(f"give at least one of {', '.join(THRESHOLD_RANGES)}")
        values = {k: _number(doc, k) for k in THRESHOLD_RANGES if k in doc}
        order = [values[k] for k in ("min_micro_ms", "max_micro_ms", "max_macro_ms") if k in values]
        if order != sorted(order) or len(set(order)) != len(order):
            raise CommandError("need min_micro_ms < max_micro_ms < max_macro_ms")
        return values
    raise CommandError(f"unknown command {name[:64]!r}")


@dataclass
class CommandHandler:
    """Carries out valid commands on the objects it was given.

    ``set_thresholds`` receives the validated values and returns what now
    applies (raise ValueError to refuse); ``health`` returns a health payload;
    ``erase_session`` erases one session's events and clips on the device and
    returns the counts. Any may be None when nothing can act on it.
    """

    sessions: SessionStore
    set_thresholds: Callable[[dict[str, float]], dict[str, Any]] | None = None
    health: Callable[[], dict[str, Any]] | None = None
    erase_session: Callable[[str], dict[str, Any]] | None = None
    handled: int = field(default=0, init=False)
    rejected: int = field(default=0, init=False)

    def handle(self, name: str, payload: bytes) -> Reply:
        label = name if name in COMMAND_NAMES else name[:64]
        try:
            if name not in COMMAND_NAMES:
                raise CommandError(f"unknown command {label!r}")
            args = validate_command(name, parse_payload(payload))
            result = self._run(name, args)
        except CommandError as e:
            self.rejected += 1
            log.warning("command %s rejected: %s", label, e)
            return Reply(False, label, error=str(e))
        except Exception as e:  # a callback failed: reply, never crash the unit
            self.rejected += 1
            log.exception("command %s failed", label)
            return Reply(False, label, error=f"failed: {type(e).__name__}: {str(e)[:120]}")
        self.handled += 1
        log.info("command %s done", name)
        return Reply(True, name, result=result)

    def _run(self, name: str, args: dict[str, Any]) -> Any:
        if name == "start_session":
            return {"session": self.sessions.start_session(args["id"])}
        if name == "stop_session":
            stopped = self.sessions.stop_session()
            if stopped is None:
                raise CommandError("no session is running")
            return {"session": stopped}
        if name == "set_thresholds":
            if self.set_thresholds is None:
                raise CommandError("thresholds cannot be changed: no spotter is running")
            try:
                return {"thresholds": self.set_thresholds(args)}
            except ValueError as e:
                raise CommandError(str(e)) from None
        if name == "erase_session":
            if self.erase_session is None:
                raise CommandError("erasing is not available on this unit")
            current = self.sessions.current_session()
            if current and current.get("id") == args["id"]:
                raise CommandError("session is running: stop it before erasing it")
            return {"erased": self.erase_session(args["id"])}
        if self.health is None:
            raise CommandError("health is not available")
        return {"health": self.health()}
