"""The central store's retention and erasure (issue 18 item 8), on SQLite and a real PostgreSQL, and in the
running dashboard: config-driven periodic pass, erase by session and by device, each recorded with who asked."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from dashboard_helpers import make_event, make_health, wait_for

from dashboard.erasure import ErasureError
from dashboard.records import format_utc
from dashboard.store import open_store

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request, tmp_path):
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else ""
    s = open_store(url, tmp_path)
    yield s
    s.close()


def ago(days: float) -> str:
    return format_utc(NOW - timedelta(days=days))


def ids(store, **q) -> set[str]:
    from dashboard.records import EventQuery

    return {e["id"] for e in store.query_events(EventQuery(limit=1000, **q))}


def test_erase_a_session_or_a_device_and_record_who_asked(store):
    a = [make_event("room-1", "iv-1", i) for i in range(6)]
    b = [make_event("room-2", "iv-1", i) for i in range(3)]  # the same session id on another unit
    c = [make_event("room-1", "iv-2", i) for i in range(4)]
    store.add_events(a + b + c, ago(1))
    store.set_health("room-2", make_health("room-2"), ago(0))

    done = store.erase_session("iv-1", "DPO ticket 7", device="room-1")
    assert (done.scope, done.target, done.device, done.events, done.requested_by) == ("session", "iv-1", "room-1", 6,
                                                                                      "DPO ticket 7")
    assert ids(store) == {e["id"] for e in b + c}
    done = store.erase_device("room-2", "Jane Doe, data protection")
    assert done.events == 3 and ids(store) == {e["id"] for e in c}
    assert "room-2" not in {d.id for d in store.devices()}  # its fleet row (site, room, health) too
    with pytest.raises(ErasureError, match="requested_by"):
        store.erase_session("iv-2", "   ")
    assert ids(store) == {e["id"] for e in c}  # refused means nothing erased
    log = store.erasures()
    assert [(e.scope, e.target, e.events, e.requested_by) for e in log] == [
        ("device", "room-2", 3, "Jane Doe, data protection"), ("session", "iv-1", 6, "DPO ticket 7")]
    assert not any(e["id"] in json.dumps([x.to_dict() for x in log]) for e in a + b)  # nothing of the events kept


def test_retention_by_age_and_by_count(store):
    old = [make_event("room-1", "old", i) for i in range(5)]
    mid = [make_event("room-1", "mid", i) for i in range(5)]
    new = [make_event("room-1", "new", i) for i in range(5)]
    store.add_events(old, ago(40))
    store.add_events(mid, ago(10))
    store.add_events(new, ago(0.5))
    assert store.apply_retention(30, 1_000, now=NOW)[0].events == 5
    assert ids(store) == {e["id"] for e in mid + new}
    assert store.apply_retention(30, 1_000, now=NOW) == []  # nothing more to do, nothing recorded
    done = store.apply_retention(30, 7, now=NOW)  # the count cap erases the oldest received first
    assert [d.events for d in done] == [3] and len(ids(store)) == 7 and {e["id"] for e in new} <= ids(store)
    assert [e.requested_by for e in store.erasures()] == ["retention policy (at most 7 events)",
                                                          "retention policy (older than 30 days)"]


def test_the_running_dashboard_applies_retention_periodically_and_erases_on_request(broker, start_dashboard,
                                                                                    tmp_path):
    data = tmp_path / "central"
    s = open_store("", data)
    recent = [make_event("room-1", "iv-9", i) for i in range(4)]
    s.add_events([make_event("room-1", "iv-old", i) for i in range(6)], format_utc(datetime.now(UTC) - timedelta(days=45)))
    s.add_events(recent, format_utc(datetime.now(UTC)))
    conf = tmp_path / "dash.toml"
    conf.write_text("[dashboard]\nretention_days = 30\nretention_interval_s = 10\n")
    dash = start_dashboard(mqtt_url=broker.url, data_dir=data, env={"MICROEXPR_CONFIG": str(conf)})
    c = dash.login()
    wait_for(lambda: c.get("/api/stats").json()["events_stored"] == 4, what="the pass at start")
    assert c.get("/api/erasures").json()["erasures"][0]["events"] == 6
    # an old copy arriving later (a unit's resend) is caught by the next periodic pass
    late = make_event("room-1", "iv-late", 1)
    s.add_events([late], format_utc(datetime.now(UTC) - timedelta(days=31)))
    s.close()
    wait_for(lambda: c.get(f"/api/events/{late['id']}").status_code == 404, timeout=25, what="the periodic pass")

    r = c.post("/api/erase", json={"session": "iv-9"})
    assert r.status_code == 400 and "requested_by" in r.json()["error"]
    r = c.post("/api/erase", json={"session": "iv-9", "requested_by": "DPO ticket 12"})
    assert r.status_code == 200 and r.json()["erased"]["events"] == 4
    assert c.get("/api/stats").json()["events_stored"] == 0
    top = c.get("/api/erasures").json()["erasures"][0]
    assert top["requested_by"] == "DPO ticket 12 (dashboard login from 127.0.0.1)" and top["target"] == "iv-9"
    assert "erased 4 events from the central store (session iv-9), requested by DPO ticket 12" in dash.log_text()


def test_erase_from_the_command_line(tmp_path):
    s = open_store("", tmp_path)
    s.add_events([make_event("room-3", "iv-1", i) for i in range(3)], format_utc(datetime.now(UTC)))
    s.close()
    env = {"MICROEXPR_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    run = [sys.executable, "-m", "dashboard.admin"]
    p = subprocess.run([*run, "erase", "--device", "room-3"], env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and p.stderr.strip().splitlines() == [
        "dashboard.admin: requested_by: say who asked for the erasure (a name, a ticket)"]
    p = subprocess.run([*run, "erase", "--device", "room-3", "--requested-by", "ops on-call"], env=env,
                       capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(p.stdout)[0]["events"] == 3
    p = subprocess.run([*run, "erasures"], env=env, capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(p.stdout)[0]["requested_by"] == "ops on-call"
