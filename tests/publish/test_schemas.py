"""Every payload the unit publishes validates against its JSON Schema in edge/publish/schemas."""

from __future__ import annotations

import jsonschema
import pytest

from edge.events.outbox import Outbox
from edge.publish.client import topics_for
from edge.publish.commands import CommandHandler
from edge.publish.discovery import discovery_payload
from edge.publish.health import HealthSnapshot, build_health
from edge.publish.schemas import NAMES, load_schema, validator
from edge.publish.service import session_payload


@pytest.mark.parametrize("name", NAMES)
def test_schemas_are_valid_draft_2020_12(name):
    schema = load_schema(name)
    assert schema["$schema"].endswith("2020-12/schema") and schema["$id"] == f"microexpr/{name}.json"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_event_record_from_the_spotter_validates(make_event):
    v = validator("event")
    d = make_event(3, emotion="contempt").to_dict()
    d["device"], d["session"] = "room-1", "s1"
    v.validate(d)
    for bad in ({**d, "emotion": "joy"}, {**d, "confidence": 1.5}, {**d, "extra": 1},
                {k: x for k, x in d.items() if k != "id"}, {**d, "onset_utc": "yesterday"}):
        assert not v.is_valid(bad)


def test_outbox_round_trip_keeps_the_event_valid(tmp_path, make_event):
    ob = Outbox(tmp_path / "o.sqlite3", device="room-9")
    ob.start_session("s-1")
    e = make_event(1)
    ob.put(e)
    stored = ob.get(e.id)
    validator("event").validate(stored)
    assert (stored["device"], stored["session"]) == ("room-9", "s-1")
    v = validator("session")
    v.validate(session_payload(ob.latest_session()))
    ob.stop_session()
    v.validate(session_payload(ob.latest_session()))
    assert not v.is_valid({**session_payload(ob.latest_session()), "state": "running"})  # running has no stop
    ob.close()


def test_health_and_replies_validate(tmp_path, make_cfg):
    cfg = make_cfg("mqtt://127.0.0.1:1", device__site="hq")
    ob = Outbox(tmp_path / "o.sqlite3")
    snap = HealthSnapshot(fps_in=120.0, fps_processed=118.5, frames_in=1000, frames_processed=990,
                          frames_dropped=10, camera="ok", models="ab12", runtime="ai-edge-litert 1.2")
    snap.latency.add({"detect": 3.1, "mesh": 4.2, "emotion": 6.0})
    h = build_health(cfg.device_id, snap, ob.stats(), tmp_path, "hq", "12")
    validator("health").validate(h)
    assert h["versions"] == {"software": "0.1.0", "models": "ab12", "runtime": "ai-edge-litert 1.2"}
    handler = CommandHandler(ob, None, lambda: h)
    rv = validator("reply")
    for name, payload in (("health", b"{}"), ("start_session", b'{"id":"x1"}'), ("nope", b"{}"),
                          ("stop_session", b"{}"), ("stop_session", b"{}")):
        rv.validate(handler.handle(name, payload).to_dict())
    ob.close()


def test_discovery_and_status_validate(make_cfg):
    cfg = make_cfg("mqtt://127.0.0.1:1", device__room="Room 12")
    topic, doc = discovery_payload(cfg, topics_for(cfg))
    assert topic == "homeassistant/device/room-1/config"
    validator("discovery").validate(doc)
    assert doc["dev"]["sa"] == "Room 12"
    s = validator("status")
    assert s.is_valid("online") and s.is_valid("offline") and not s.is_valid("maybe")
