"""The dashboard command: session commands to a real device service, startup refusals, password hashes."""

from __future__ import annotations

import os
import subprocess

import httpx
import pytest
from dashboard_helpers import MICROEXPR, PASSWORD, make_event, wait_for

from edge.config import load_config
from edge.events.outbox import open_outbox
from edge.publish.service import PublisherService


@pytest.fixture
def device(broker, tmp_path):
    """The issue-5 device side for real: outbox + PublisherService answering cmd/start_session etc."""
    cfg = load_config(environ={"MICROEXPR_MQTT_URL": broker.url, "MICROEXPR_DEVICE_ID": "room-5",
                               "MICROEXPR_DATA_DIR": str(tmp_path / "device"), "MICROEXPR_SITE": "Leeds"})
    outbox = open_outbox(cfg)
    svc = PublisherService(cfg, outbox)
    svc.start()
    assert svc.wait_connected(10)
    yield svc, outbox
    svc.stop()
    outbox.close()


def test_start_and_stop_a_session_on_a_device_over_mqtt(device, broker, start_dashboard):
    svc, outbox = device
    dash = start_dashboard(mqtt_url=broker.url)
    c = dash.login()

    def room5():
        return next((d for d in c.get("/api/devices").json()["devices"] if d["id"] == "room-5"), None)
    assert wait_for(lambda: (d := room5()) and d["state"] in ("online", "degraded") and d)

    r = c.post("/api/sessions/start", json={"device": "room-5", "interview_id": "iv-100"})
    assert r.status_code == 200, r.text
    reply = r.json()["reply"]
    assert reply["ok"] is True and reply["command"] == "start_session"
    assert outbox.current_session()["id"] == "iv-100"
    # The device's retained session state reaches the fleet view.
    wait_for(lambda: room5()["session"].get("id") == "iv-100" and room5()["session"]["state"] == "running",
             what="session state in the fleet view")
    # Events recorded now belong to the session and show up under it.
    e = make_event("room-5", "", 1)
    e.pop("session")
    outbox.put({**e, "session": "iv-100"})
    svc.notify()
    wait_for(lambda: any(s["session"] == "iv-100" for s in c.get("/api/sessions").json()["sessions"]),
             what="the session's event")

    r = c.post("/api/sessions/stop", json={"device": "room-5"})
    assert r.status_code == 200 and r.json()["reply"]["ok"] is True
    assert outbox.current_session() is None
    wait_for(lambda: room5()["session"]["state"] == "stopped", what="stopped state")

    # A bad id is refused by the dashboard before anything is sent.
    assert c.post("/api/sessions/start", json={"device": "room-5", "interview_id": "no spaces"}).status_code == 400
    # Nobody answers for a device that does not exist: a clear timeout, not a hang.
    r = c.post("/api/sessions/start", json={"device": "room-404", "interview_id": "iv-1"})
    assert r.status_code == 504 and "no reply" in r.json()["error"]


def run_cli(args: list[str], env: dict[str, str], input: str | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("MICROEXPR_")}
    return subprocess.run([MICROEXPR, *args], env={**base, **env}, input=input, capture_output=True, text=True,
                          timeout=60, check=False)


def test_refuses_to_start_without_a_password(tmp_path, broker):
    p = run_cli(["dashboard", "--listen", "127.0.0.1:0"],
                {"MICROEXPR_DATA_DIR": str(tmp_path), "MICROEXPR_MQTT_URL": broker.url})
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert lines[-1].startswith("microexpr dashboard: dashboard: no password configured")
    assert "Traceback" not in p.stderr


def test_refuses_to_start_central_without_a_broker(tmp_path):
    p = run_cli(["dashboard"], {"MICROEXPR_DATA_DIR": str(tmp_path), "MICROEXPR_DASHBOARD_PASSWORD": "x"})
    assert p.returncode == 2 and "mqtt.url" in p.stderr.strip().splitlines()[-1]


def test_hashed_password_from_the_config_file(tmp_path, start_dashboard):
    p = run_cli(["dashboard", "--hash-password"], {}, input="tr0ub4dor&3\n")
    assert p.returncode == 0
    hashed = p.stdout.strip()
    assert hashed.startswith("scrypt$") and "tr0ub4dor" not in hashed
    conf = tmp_path / "microexpr.toml"
    conf.write_text(f'[dashboard]\npassword_hash = "{hashed}"\n')
    dash = start_dashboard(local=True, env={"MICROEXPR_CONFIG": str(conf), "MICROEXPR_DASHBOARD_PASSWORD": ""})
    with httpx.Client(base_url=dash.url) as c:
        assert c.post("/login", data={"password": PASSWORD}).status_code == 401
        assert c.post("/login", data={"password": "tr0ub4dor&3"}).status_code == 303
        assert c.get("/api/events").status_code == 200
