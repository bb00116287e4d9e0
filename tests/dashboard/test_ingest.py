"""The MQTT ingester against a real Mosquitto: good messages stored, bad ones counted, logged, dropped."""

from __future__ import annotations

import json
import logging

import pytest
from dashboard_helpers import (
    make_event,
    make_health,
    mqtt_client,
    publish_json,
    wait_for,
)

from dashboard.ingest import Ingester
from dashboard.payloads import MAX_PAYLOAD_BYTES, PayloadError, Validator
from dashboard.records import EventQuery, device_view
from dashboard.store import open_store
from edge.config import load_config


@pytest.fixture
def ingest(broker, tmp_path):
    cfg = load_config(environ={"MICROEXPR_MQTT_URL": broker.url, "MICROEXPR_DATA_DIR": str(tmp_path)})
    store = open_store("", tmp_path)
    ing = Ingester(cfg, store, "test-dashboard")
    ing.start()
    wait_for(lambda: ing.connected, what="ingester connection")
    yield ing, store
    ing.stop()
    store.close()


BAD = {
    "invalid JSON": b"{not json",
    "not UTF-8": b"\xff\xfe\x00garbage",
    "wrong schema version": json.dumps({**make_event("room-1"), "schema": 99}).encode(),
    "missing confidence": json.dumps({k: v for k, v in make_event("room-1").items() if k != "confidence"}).encode(),
    "unknown emotion": json.dumps({**make_event("room-1"), "emotion": "smugness"}).encode(),
    "bad time": json.dumps({**make_event("room-1"), "apex_utc": "yesterday"}).encode(),
    "device differs from topic": json.dumps(make_event("room-2")).encode(),
    "an array": b"[1, 2, 3]",
    "huge": b'{"pad": "' + b"x" * (MAX_PAYLOAD_BYTES + 10) + b'"}',
}


def test_malformed_payloads_are_counted_logged_and_never_stored(ingest, broker, caplog):
    ing, store = ingest
    caplog.set_level(logging.WARNING, logger="dashboard.ingest")
    c = mqtt_client(broker.url)
    for payload in BAD.values():
        c.publish("microexpr/room-1/events", payload, qos=1).wait_for_publish(10)
    c.publish("microexpr/room-1/status", b"sleepy", qos=1).wait_for_publish(10)
    c.publish("microexpr/room-1/health", b'{"fps_in": "fast"}', qos=0)
    c.publish("microexpr/room-1/session", b'{"state": "paused"}', qos=1).wait_for_publish(10)
    good = make_event("room-1", "s1", 1)
    publish_json(c, "microexpr/room-1/events", good)
    wait_for(lambda: store.count_events() == 1, what="the good event")
    n_bad = len(BAD) + 3
    stats = wait_for(lambda: (s := ing.stats())["malformed"] == n_bad and s, what="malformed count")
    assert stats["stored"] == 1
    assert store.query_events(EventQuery()) == [good]
    assert "invalid JSON" in stats["malformed_reasons"]
    assert any(r.startswith("payload of") for r in stats["malformed_reasons"])
    logged = [r.getMessage() for r in caplog.records if "rejected payload" in r.getMessage()]
    assert len(logged) == n_bad
    assert any("microexpr/room-1/events" in m and "invalid JSON" in m for m in logged)
    assert ing.connected  # still alive and still ingesting:
    publish_json(c, "microexpr/room-1/events", make_event("room-1", "s1", 2))
    wait_for(lambda: store.count_events() == 2, what="ingest after malformed payloads")
    assert {d.id for d in store.devices()} == {"room-1"}
    c.disconnect()


def test_status_health_session_and_will_reach_the_store(ingest, broker):
    _, store = ingest
    dev = mqtt_client(broker.url, will=("microexpr/room-7/status", "offline"))
    publish_json(dev, "microexpr/room-7/status", "online", retain=True)
    publish_json(dev, "microexpr/room-7/health", make_health("room-7"), qos=0)
    publish_json(dev, "microexpr/room-7/session", {"schema": 1, "id": "iv-1", "state": "running",
                                                   "started": "2026-11-29T10:00:00.000Z", "stopped": None}, retain=True)

    def view():
        rows = [d for d in store.devices() if d.id == "room-7"]
        return rows and rows[0].health and rows[0].session and rows[0]
    row = wait_for(view, what="room-7 status, health and session")
    assert row.status == "online" and row.room == "Interview 3" and row.session["id"] == "iv-1"
    dev.socket().close()  # an unclean loss of the connection: the broker fires the Last Will
    wait_for(lambda: next(d for d in store.devices() if d.id == "room-7").status == "offline", what="Last Will")
    dev.loop_stop()


def test_validator_accepts_the_documented_shapes():
    v = Validator("microexpr", schemas={})
    e = make_event("room-1")
    assert v.check("microexpr/room-1/events", json.dumps(e).encode()).payload == e
    assert v.check("microexpr/room-1/status", b"offline").payload == "offline"
    assert v.check("microexpr/room-1/health", json.dumps(make_health("room-1")).encode()).kind == "health"
    with pytest.raises(PayloadError, match="topic"):
        v.check("microexpr/room-1/cmd/start_session", b"{}")
    with pytest.raises(PayloadError, match="onset <= apex"):
        v.check("microexpr/room-1/events", json.dumps({**e, "apex_utc": "2020-01-01T00:00:00Z"}).encode())
    assert device_view  # imported for the fleet shape used above
