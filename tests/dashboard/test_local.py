"""`microexpr dashboard --local`: the device's outbox and clips served with no broker at all."""

from __future__ import annotations

from dashboard_helpers import PASSWORD, fill_outbox, write_clip

from edge.events.outbox import Outbox


def test_local_serves_outbox_events_and_clips_without_a_broker(start_dashboard, tmp_path):
    data = tmp_path / "unit"
    events = fill_outbox(data)
    meta = write_clip(data / "clips", events[2]["id"])
    dash = start_dashboard(local=True, data_dir=data)  # no MICROEXPR_MQTT_URL at all
    c = dash.login()

    got = c.get("/api/events", params={"limit": 100}).json()
    assert got["total"] == len(events)
    assert {e["id"] for e in got["events"]} == {e["id"] for e in events}
    fear = c.get("/api/events", params={"emotion": "fear", "session": "iv-7"}).json()
    assert {e["id"] for e in fear["events"]} == {e["id"] for e in events[:8] if e["emotion"] == "fear"}
    assert c.get("/api/events", params={"emotion": "glee"}).status_code == 400

    sessions = {s["session"]: s for s in c.get("/api/sessions").json()["sessions"]}
    assert sessions["iv-7"]["events"] == 8 and sessions["iv-8"]["events"] == 3
    timeline = c.get("/api/sessions/iv-8/events").json()["events"]
    assert [e["id"] for e in timeline] == [e["id"] for e in events[8:]]

    clip = c.get(f"/api/clips/{events[2]['id']}").json()
    assert clip["apex"] == 6 and clip["frames"] == meta["frames"]
    jpeg = c.get(f"/api/clips/{events[2]['id']}/0006.jpg")
    assert jpeg.status_code == 200 and jpeg.headers["content-type"] == "image/jpeg" and jpeg.content[:2] == b"\xff\xd8"
    assert c.get(f"/api/clips/{events[2]['id']}/..%2Fclip.json").status_code == 404
    assert c.get(f"/api/clips/{events[3]['id']}").status_code == 404  # no clip for that one

    fleet = c.get("/api/devices").json()["devices"]
    assert [d["id"] for d in fleet] == ["unit-local"] and fleet[0]["state"] == "local"

    # Start and stop act on the outbox's own session state, as the session button would.
    r = c.post("/api/sessions/start", json={"device": "unit-local", "interview_id": "iv-9"})
    assert r.status_code == 200, r.text
    ob = Outbox(data / "outbox.sqlite3")
    try:
        assert ob.current_session()["id"] == "iv-9"
        assert c.get("/api/devices").json()["devices"][0]["session"]["state"] == "running"
        assert c.post("/api/sessions/stop", json={"device": "unit-local"}).status_code == 200
        assert ob.current_session() is None
    finally:
        ob.close()
    assert c.post("/api/sessions/start", json={"device": "unit-local", "interview_id": "bad id!"}).status_code == 400

    report = c.get("/api/sessions/iv-7/report.csv")
    lines = report.text.strip().splitlines()
    assert lines[0].startswith("id,device,session,type,emotion,confidence") and len(lines) == 9
    js = c.get("/api/sessions/iv-7/report.json").json()
    assert js["summary"]["events"] == 8 and len(js["events"]) == 8
    page = c.get("/sessions/iv-7/report")
    assert "Session report: iv-7" in page.text and page.text.count("<tr>") >= 8
    assert "sensitive" in c.get("/").text.lower()
    assert "Traceback" not in dash.log_text()
    assert PASSWORD not in dash.log_text()


def test_local_fleet_row_shows_the_running_units_health(start_dashboard, tmp_path):
    import json

    data = tmp_path / "unit"
    fill_outbox(data)
    (data / "health.json").write_text(json.dumps({
        "schema": 1, "ts": "2026-11-29T12:00:00.000Z", "fps_in": 120.0, "fps_processed": 119.5,
        "frames_dropped": 3, "cpu_temp_c": 61.5, "camera": "ok",
        "outbox": {"depth": 999}, "versions": {"software": "0.1.0"},
    }))
    dash = start_dashboard(local=True, data_dir=data)
    row = dash.login().get("/api/devices").json()["devices"][0]
    assert row["fps"] == 119.5 and row["cpu_temp_c"] == 61.5 and row["frames_dropped"] == 3
    assert row["outbox_depth"] == 11, "the outbox itself, not the file, gives the backlog"
    assert row["last_seen_utc"] == "2026-11-29T12:00:00.000Z"
