"""The command parser and handler, directly (fast) and fuzzed: bad input never crashes or changes state."""

from __future__ import annotations

import json
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.events.outbox import Outbox
from edge.publish.commands import MAX_PAYLOAD, THRESHOLD_RANGES, CommandHandler
from edge.publish.schemas import validator
from edge.publish.topics import COMMAND_NAMES

REPLY = validator("reply")
COMMAND = {name: validator("command", name) for name in COMMAND_NAMES}


class Thresholds:
    """Stands in for the spotter's settings: applies values and remembers every call."""

    def __init__(self) -> None:
        self.values = {"threshold": 4.0, "min_micro_ms": 40.0, "max_micro_ms": 500.0, "max_macro_ms": 4000.0}
        self.calls: list[dict[str, float]] = []

    def __call__(self, new: dict[str, float]) -> dict[str, float]:
        merged = {**self.values, **new}
        if not merged["min_micro_ms"] < merged["max_micro_ms"] < merged["max_macro_ms"]:
            raise ValueError("need min_micro_ms < max_micro_ms < max_macro_ms")
        self.calls.append(new)
        self.values = merged
        return dict(self.values)


@pytest.fixture
def outbox(tmp_path):
    ob = Outbox(tmp_path / "outbox.sqlite3", device="room-1")
    yield ob
    ob.close()


def handler_for(outbox: Outbox, thresholds: Thresholds | None = None) -> CommandHandler:
    def erase(session: str) -> dict[str, int]:
        return {"events": outbox.erase_session(session), "clips": 0}

    return CommandHandler(outbox, thresholds, lambda: {"schema": 1, "device": "room-1"}, erase)


def state(outbox: Outbox, thresholds: Thresholds) -> tuple:
    return (tuple(tuple(sorted(s.items())) for s in outbox.sessions()), tuple(sorted(thresholds.values.items())),
            len(thresholds.calls))


def test_start_stop_session_and_replies(outbox):
    th = Thresholds()
    h = handler_for(outbox, th)
    r = h.handle("start_session", b'{"id": "interview-42"}')
    assert r.ok and r.command == "start_session"
    assert r.result["session"]["id"] == "interview-42" and r.result["session"]["state"] == "running"
    assert outbox.current_session()["id"] == "interview-42"
    r = h.handle("stop_session", b"{}")
    assert r.ok and r.result["session"]["state"] == "stopped"
    assert outbox.current_session() is None
    r = h.handle("stop_session", b"{}")
    assert not r.ok and "no session" in r.error
    for reply in (r, h.handle("health", b"{}")):
        REPLY.validate(reply.to_dict())
    assert h.handle("health", b"{}").result == {"health": {"schema": 1, "device": "room-1"}}


def test_set_thresholds_validates_and_applies(outbox):
    th = Thresholds()
    h = handler_for(outbox, th)
    r = h.handle("set_thresholds", b'{"threshold": 5.5}')
    assert r.ok and r.result["thresholds"]["threshold"] == 5.5 and th.values["threshold"] == 5.5
    for bad, why in [
        (b'{"threshold": 0.2}', "between"),
        (b'{"threshold": "5"}', "expected a number"),
        (b'{"threshold": true}', "expected a number"),
        (b'{"threshold": NaN}', "not a number"),
        (b'{"threshold": 1e999}', "expected a number"),
        (b'{"min_micro_ms": 600, "max_micro_ms": 300}', "min_micro_ms < max_micro_ms"),
        (b'{"max_micro_ms": 30}', "min_micro_ms < max_micro_ms"),  # against the current min of 40
        (b'{}', "at least one"),
        (b'{"gain": 2}', "unknown field"),
    ]:
        before = state(outbox, th)
        r = h.handle("set_thresholds", bad)
        assert not r.ok and why in r.error, (bad, r)
        assert state(outbox, th) == before
    assert not handler_for(outbox, None).handle("set_thresholds", b'{"threshold": 5}').ok


@pytest.mark.parametrize("name,payload,why", [
    ("start_session", b"{not json", "invalid JSON"),
    ("start_session", b"[1, 2]", "JSON object"),
    ("start_session", b'{"id": 42}', "expected a string"),
    ("start_session", b'{"id": ""}', "id:"),
    ("start_session", b'{"id": "a/b"}', "id:"),
    ("start_session", b'{"id": "x", "extra": 1}', "unknown field"),
    ("start_session", b"\xff\xfe", "not UTF-8"),
    ("start_session", b'{"id": "' + b"a" * MAX_PAYLOAD + b'"}', "too large"),
    ("start_session", b"[" * 2000 + b"]" * 2000, "invalid JSON"),
    ("reboot", b"{}", "unknown command"),
    ("", b"{}", "unknown command"),
    ("health", b'{"now": true}', "unknown field"),
])
def test_malformed_commands_get_an_error_and_change_nothing(outbox, name, payload, why):
    th = Thresholds()
    outbox.start_session("before")
    h = handler_for(outbox, th)
    before = state(outbox, th)
    r = h.handle(name, payload)
    assert not r.ok and why in r.error
    REPLY.validate(r.to_dict())
    assert state(outbox, th) == before
    assert h.rejected == 1 and h.handled == 0


def test_a_failing_callback_becomes_an_error_reply(outbox):
    def broken() -> dict:
        raise RuntimeError("sensor gone")

    r = CommandHandler(outbox, None, broken).handle("health", b"{}")
    assert not r.ok and "RuntimeError: sensor gone" in r.error


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
keys = st.sampled_from(["id", "threshold", "min_micro_ms", "max_micro_ms", "max_macro_ms", "x"]) | st.text(max_size=8)
objects = st.dictionaries(keys, json_values | st.floats(0, 30000) | st.text(string.ascii_letters, max_size=70),
                          max_size=4)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(COMMAND_NAMES) | st.text(max_size=30), payload=st.binary(max_size=64))
def test_fuzz_arbitrary_bytes_never_crash_and_change_nothing_when_rejected(outbox, name, payload):
    th = Thresholds()
    h = handler_for(outbox, th)
    before = state(outbox, th)
    r = h.handle(name, payload)
    REPLY.validate(r.to_dict())
    if not r.ok:
        assert state(outbox, th) == before


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(COMMAND_NAMES), doc=objects)
def test_fuzz_handler_accepts_exactly_what_the_schema_accepts(outbox, name, doc):
    th = Thresholds()
    h = handler_for(outbox, th)
    outbox.start_session("baseline")
    before = state(outbox, th)
    payload = json.dumps(doc).encode()
    r = h.handle(name, payload)
    REPLY.validate(r.to_dict())
    schema_ok = COMMAND[name].is_valid(doc) and len(payload) <= MAX_PAYLOAD
    if name == "set_thresholds" and schema_ok:
        merged = {**th.values, **doc}
        schema_ok = merged["min_micro_ms"] < merged["max_micro_ms"] < merged["max_macro_ms"]
    if name == "erase_session" and schema_ok:
        schema_ok = doc["id"] != "baseline"  # the running session is never erased
    assert r.ok == schema_ok, (doc, r)
    if not r.ok:
        assert state(outbox, th) == before
    elif name == "set_thresholds":
        assert th.calls == [{k: float(v) for k, v in doc.items()}]
    elif name == "start_session":
        assert outbox.current_session()["id"] == doc["id"]


def test_threshold_ranges_match_the_schema():
    props = COMMAND["set_thresholds"].schema["$defs"]["set_thresholds"]["properties"]
    assert {k: (v["minimum"], v["maximum"]) for k, v in props.items()} == THRESHOLD_RANGES


def test_erase_session_command_calls_the_eraser_and_refuses_a_running_session(tmp_path):
    from edge.events.outbox import Outbox
    from edge.publish.commands import CommandHandler

    erased: list[str] = []
    with Outbox(tmp_path / "o.sqlite3") as ob:
        h = CommandHandler(ob, None, None, lambda sid: erased.append(sid) or {"events": 3, "clips": 2})
        ob.start_session("running-1")
        refused = h.handle("erase_session", b'{"id": "running-1"}')
        assert not refused.ok and "running" in refused.error and erased == []
        ok = h.handle("erase_session", b'{"id": "old-7"}')
        assert ok.ok and ok.result == {"erased": {"events": 3, "clips": 2}} and erased == ["old-7"]
        bad = h.handle("erase_session", b'{"id": "../etc"}')
        assert not bad.ok and erased == ["old-7"]
        assert CommandHandler(ob).handle("erase_session", b'{"id": "old-7"}').error == \
            "erasing is not available on this unit"
