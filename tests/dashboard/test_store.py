"""The store on SQLite and on a real PostgreSQL: dedup by id, filters, sessions, devices."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from dashboard_helpers import make_event, make_health

from dashboard.records import EventQuery, device_view
from dashboard.store import StoreError, open_store


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request, tmp_path):
    if request.param == "sqlite":
        s = open_store("", tmp_path)
    else:
        s = open_store(request.getfixturevalue("postgres_url"), tmp_path)
    yield s
    s.close()


def test_events_are_stored_once_by_id(store):
    events = [make_event("room-1", "s1", i) for i in range(20)]
    assert store.add_events(events, "2026-11-29T10:00:00.000Z") == 20
    # The same ids again, and a batch holding one id twice: nothing new.
    assert store.add_events(events[:5] + [events[7], events[7]], "2026-11-29T10:00:01.000Z") == 0
    assert store.add_events([events[3], make_event("room-1", "s1", 20)], "2026-11-29T10:00:02.000Z") == 1
    assert store.count_events() == 21
    assert store.event(events[4]["id"]) == events[4]
    assert store.event("nope") is None


def test_filters_combine(store):
    events = [make_event(f"room-{i % 3}", f"s{i % 2}", i) for i in range(60)]
    store.add_events(events, "2026-11-29T10:00:00.000Z")
    q = EventQuery(device="room-1", emotion="fear", type="micro", min_confidence=0.5)
    want = sorted(
        (e for e in events if e["device"] == "room-1" and e["emotion"] == "fear" and e["type"] == "micro"
         and e["confidence"] >= 0.5),
        key=lambda e: e["apex_utc"], reverse=True,
    )
    got = store.query_events(q)
    assert [e["id"] for e in got] == [e["id"] for e in want]
    assert store.count_events(q) == len(want)
    since, until = events[10]["apex_utc"], events[30]["apex_utc"]
    ranged = store.query_events(EventQuery(since_utc=since, until_utc=until, limit=1000))
    assert {e["id"] for e in ranged} == {e["id"] for e in events[10:31]}
    page2 = store.query_events(EventQuery(limit=10, offset=10))
    assert [e["id"] for e in page2] == [e["id"] for e in sorted(events, key=lambda e: e["apex_utc"], reverse=True)[10:20]]


def test_sessions_and_timeline(store):
    store.add_events([make_event("room-1", "alpha", i) for i in range(9)], "2026-11-29T10:00:00.000Z")
    store.add_events([make_event("room-2", "beta", i) for i in range(4)], "2026-11-29T10:00:00.000Z")
    store.add_events([make_event("room-2", "", 99)], "2026-11-29T10:00:00.000Z")
    sessions = {s["session"]: s for s in store.sessions()}
    assert set(sessions) == {"alpha", "beta"}
    assert sessions["alpha"]["events"] == 9 and sessions["alpha"]["device"] == "room-1"
    assert sessions["alpha"]["micro"] + sessions["alpha"]["macro"] == 9
    timeline = store.session_events("beta")
    assert [e["onset_utc"] for e in timeline] == sorted(e["onset_utc"] for e in timeline)
    assert len(timeline) == 4


def test_device_state_from_status_health_and_will(store):
    now = "2026-11-29T10:00:00.000Z"
    store.set_status("room-1", "online", now, live=True)
    store.set_health("room-1", make_health("room-1"), now)
    store.set_session("room-1", {"id": "alpha", "state": "running"}, now, live=True)
    store.set_status("room-2", "online", now, live=False)  # retained, from before we connected
    store.set_health("room-3", make_health("room-3", camera="lost", cpu_temp_c=85.0), now)
    store.set_status("room-3", "online", now, live=True)
    at = datetime(2026, 11, 29, 10, 0, 5, tzinfo=UTC)
    views = {d.id: device_view(d, at) for d in store.devices()}
    assert views["room-1"]["state"] == "online"
    assert views["room-1"]["site"] == "Leeds" and views["room-1"]["fps"] == 118.5
    assert views["room-1"]["session"] == {"id": "alpha", "state": "running"}
    assert views["room-2"]["last_seen_utc"] == ""  # a retained status proves nothing about now
    assert views["room-3"]["state"] == "degraded"
    assert "camera lost" in views["room-3"]["reasons"] and any("hot" in r for r in views["room-3"]["reasons"])
    store.set_status("room-1", "offline", "2026-11-29T10:01:00.000Z", live=True)  # the Last Will
    views = {d.id: device_view(d, at) for d in store.devices()}
    assert views["room-1"]["state"] == "offline"
    assert views["room-1"]["last_seen_utc"] == now


def test_live_cursor_returns_only_new_events(store):
    cursor, first = store.recent_events(None)
    assert first == []
    store.add_events([make_event("room-1", "s", i) for i in range(3)], "2026-11-29T10:00:00.000Z")
    cursor, got = store.recent_events(cursor)
    assert len(got) == 3
    store.add_events([make_event("room-1", "s", 3)], "2026-11-29T10:00:00.000Z")
    cursor2, got2 = store.recent_events(cursor)
    assert cursor2 > cursor
    assert make_event("room-1", "s", 3)["id"] in {e["id"] for e in got2}


def test_bad_store_url_is_one_clear_error(tmp_path):
    with pytest.raises(StoreError, match="dashboard.database"):
        open_store("mysql://x", tmp_path)
    with pytest.raises(StoreError, match="cannot connect"):
        open_store("postgresql://nobody@127.0.0.1:1/none", tmp_path)
