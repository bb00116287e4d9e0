"""Dashboard session commands through a real Mosquitto enforcing docs/mqtt.md's ACL and a mosquitto_passwd file."""

from __future__ import annotations

import threading
import uuid

import paho.mqtt.client as mqtt
import pytest
from dashboard_helpers import make_event, wait_for
from fixtures.broker import documented_acl, secure_conf
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from dashboard.commands import Commander
from edge.config import load_config
from edge.events.outbox import open_outbox
from edge.publish.service import PublisherService

USERS = {"room-5": "pw-room-5", "room-6": "pw-room-6", "dashboard": "pw-dash", "fleet-reader": "pw-reader"}


@pytest.fixture
def acl_broker(broker_factory, tmp_path):
    """Mosquitto with no anonymous access, hashed passwords and the ACL exactly as documented."""
    return broker_factory(secure_conf(tmp_path / "sec", USERS, acl=documented_acl()))


def login_url(broker, user: str) -> str:
    return f"mqtt://{user}:{USERS[user]}@127.0.0.1:{broker.port}"


@pytest.fixture
def device(acl_broker, tmp_path):
    """The real device publisher for room-5, logged in as room-5, answering commands."""
    cfg = load_config(environ={"MICROEXPR_MQTT_URL": login_url(acl_broker, "room-5"), "MICROEXPR_DEVICE_ID": "room-5",
                               "MICROEXPR_DATA_DIR": str(tmp_path / "device")})
    outbox = open_outbox(cfg)
    svc = PublisherService(cfg, outbox)
    svc.start()
    assert svc.wait_connected(10)
    yield svc, outbox
    svc.stop()
    outbox.close()


def publish_as(broker, user: str, topic: str, payload: bytes, response_topic: str = "") -> int:
    """Publish at QoS 1 as ``user``; the PUBACK's reason code (0x87 = refused by the ACL)."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"probe-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5)
    c.username_pw_set(user, USERS[user])
    acked = threading.Event()
    codes: list[int] = []

    def on_publish(client, userdata, mid, reason_code, properties) -> None:
        codes.append(int(reason_code.value))
        acked.set()

    c.on_publish = on_publish
    c.connect("127.0.0.1", broker.port)
    c.loop_start()
    try:
        props = Properties(PacketTypes.PUBLISH)
        if response_topic:
            props.ResponseTopic = response_topic
            props.CorrelationData = b"probe"
        c.publish(topic, payload, qos=1, properties=props)
        assert acked.wait(10), "no PUBACK"
        return codes[0]
    finally:
        c.disconnect()
        c.loop_stop()


def test_session_commands_work_under_the_documented_acl(acl_broker, device, start_dashboard):
    svc, outbox = device
    dash = start_dashboard(mqtt_url=login_url(acl_broker, "dashboard"))
    c = dash.login()

    def room5():
        return next((d for d in c.get("/api/devices").json()["devices"] if d["id"] == "room-5"), None)
    wait_for(lambda: (d := room5()) and d["state"] in ("online", "degraded"), what="room-5 in the fleet view")

    r = c.post("/api/sessions/start", json={"device": "room-5", "interview_id": "iv-acl"})
    assert r.status_code == 200, r.text
    assert r.json()["reply"]["ok"] is True and outbox.current_session()["id"] == "iv-acl"
    wait_for(lambda: room5()["session"].get("id") == "iv-acl", what="the retained session state")
    e = make_event("room-5", "iv-acl", 1)
    outbox.put(e)
    svc.notify()
    wait_for(lambda: c.get(f"/api/events/{e['id']}").status_code == 200, what="the event through the shared subscription")

    r = c.post("/api/sessions/stop", json={"device": "room-5"})
    assert r.status_code == 200, r.text
    assert r.json()["reply"]["ok"] is True and outbox.current_session() is None
    assert "Not authorized" not in dash.log_text() and "no reply" not in dash.log_text()


def test_what_the_documented_acl_forbids_is_refused(acl_broker, device):
    _, outbox = device
    start = b'{"id": "iv-x"}'
    # the read-only fleet user cannot command a unit; the dashboard cannot erase or retune one
    assert publish_as(acl_broker, "fleet-reader", "microexpr/room-5/cmd/start_session", start) == 0x87
    assert publish_as(acl_broker, "dashboard", "microexpr/room-5/cmd/erase_session", start) == 0x87
    assert publish_as(acl_broker, "dashboard", "microexpr/room-5/cmd/set_thresholds", b'{"threshold": 2}') == 0x87
    # nor pose as a unit, and one unit cannot command another
    assert publish_as(acl_broker, "dashboard", "microexpr/room-5/events", b"{}") == 0x87
    assert publish_as(acl_broker, "room-6", "microexpr/room-5/cmd/start_session", start) == 0x87
    assert outbox.current_session() is None
    # what it allows goes through: the dashboard's session command
    assert publish_as(acl_broker, "dashboard", "microexpr/room-5/cmd/start_session", start) == 0
    wait_for(lambda: (outbox.current_session() or {}).get("id") == "iv-x", what="the allowed command")


class FakeMessage:
    def __init__(self, topic: str, corr: bytes, payload: bytes) -> None:
        self.topic, self.payload = topic, payload
        self.properties = Properties(PacketTypes.PUBLISH)
        self.properties.CorrelationData = corr


class RecordingClient:
    """Stands in for paho: records the publish and hands back a successful result."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Properties]] = []

    def publish(self, topic: str, payload: str, qos: int, properties: Properties) -> mqtt.MQTTMessageInfo:
        self.sent.append((topic, properties))
        info = mqtt.MQTTMessageInfo(1)
        info.rc = mqtt.MQTT_ERR_SUCCESS
        return info


def test_replies_are_asked_for_under_the_device_and_taken_only_from_it():
    client = RecordingClient()
    cmd = Commander(client, "microexpr", "dash-1")  # type: ignore[arg-type]
    result: dict = {}

    def ask() -> None:
        try:
            result["reply"] = cmd.request("room-5", "start_session", {"id": "iv-1"}, timeout_s=5)
        except Exception as e:  # noqa: BLE001 - recorded for the assertion below
            result["error"] = e
    t = threading.Thread(target=ask)
    t.start()
    wait_for(lambda: client.sent, timeout=5, what="the request")
    topic, props = client.sent[0]
    assert topic == "microexpr/room-5/cmd/start_session"
    assert props.ResponseTopic == "microexpr/room-5/reply/dash-1"
    corr = props.CorrelationData
    # another unit echoing the correlation data on its own tree is not the answer
    cmd.on_reply(FakeMessage("microexpr/room-6/reply/dash-1", corr, b'{"ok": true, "command": "start_session"}'))
    cmd.on_reply(FakeMessage("microexpr/room-5/reply/dash-1", corr, b'{"ok": true, "command": "start_session", "result": 1}'))
    t.join(5)
    assert result == {"reply": {"ok": True, "command": "start_session", "result": 1}}
