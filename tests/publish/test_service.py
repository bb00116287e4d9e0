"""PublisherService against a real Mosquitto: delivery, outages, commands, health, discovery, ACL, TLS."""

from __future__ import annotations

import json
import logging
import time
import uuid

import paho.mqtt.client as mqtt
import pytest
from fixtures.broker import Subscriber, free_port, make_test_ca, secure_conf
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.events.outbox import Outbox
from edge.publish import PublisherService
from edge.publish.health import HealthSnapshot
from edge.publish.schemas import validator

EVENT, SESSION, HEALTH, REPLY, DISCOVERY, STATUS = (
    validator(n) for n in ("event", "session", "health", "reply", "discovery", "status"))


def outbox_for(cfg) -> Outbox:
    return Outbox(cfg.data_dir / "outbox.sqlite3", cfg.outbox.max_mb, cfg.outbox.max_events,
                  cfg.outbox.max_age_days, device=cfg.device_id)


@pytest.fixture
def services():
    """Start a PublisherService, wait until it is connected; all stopped at teardown."""
    made: list[PublisherService] = []

    def start(cfg, ob: Outbox, wait: bool = True, **kw) -> PublisherService:
        svc = PublisherService(cfg, ob, **kw)
        made.append(svc)
        svc.start()
        if wait:
            assert svc.wait_connected(5)
        return svc

    yield start
    for s in made:
        s.stop(2.0)


def test_delivers_in_order_with_bounded_inflight(broker, make_cfg, make_event, services):
    cfg = make_cfg(broker.url, mqtt__max_inflight=5)
    ob = outbox_for(cfg)
    ob.start_session("interview-1")
    events = [make_event(i) for i in range(300)]
    for e in events:
        ob.put(e)
    sub = Subscriber(broker, ["microexpr/room-1/#"])
    svc = services(cfg, ob, wait=False)
    assert svc.flush(30)
    assert sub.wait_for(lambda s: len(s.on("microexpr/room-1/events")) == 300, 10)
    got = [json.loads(p) for p in sub.payloads("microexpr/room-1/events")]
    assert [g["id"] for g in got] == [e.id for e in events]  # in order, no reconnect happened
    for g in got[:20]:
        EVENT.validate(g)
    assert got[0]["device"] == "room-1" and got[0]["session"] == "interview-1" and got[0]["schema"] == 1
    assert all(m.qos == 1 for m in sub.on("microexpr/room-1/events"))
    assert 2 <= svc.peak_inflight <= 5
    st = ob.stats()
    assert st.depth == 0 and st.total == 300 and svc.delivered == 300
    assert sub.wait_for(lambda s: s.payloads("microexpr/room-1/session"), 5)
    session = json.loads(sub.payloads("microexpr/room-1/session")[-1])
    SESSION.validate(session)
    assert session["id"] == "interview-1" and session["state"] == "running"
    ob.stop_session()
    assert sub.wait_for(lambda s: json.loads(s.payloads("microexpr/room-1/session")[-1])["state"] == "stopped", 5)
    assert sub.payloads("microexpr/room-1/status")[0] == b"online"
    svc.stop(5)
    assert sub.wait_for(lambda s: s.payloads("microexpr/room-1/status")[-1] == b"offline", 5)
    for p in sub.payloads("microexpr/room-1/status"):
        STATUS.validate(p.decode())
    # both retained: a new subscriber sees the last status and session at once
    late = Subscriber(broker, ["microexpr/room-1/status", "microexpr/room-1/session"], client_id="late")
    assert late.wait_for(lambda s: len(s.messages) == 2, 5)
    assert all(m.retain for m in late.messages)
    assert late.payloads("microexpr/room-1/status") == [b"offline"]
    late.close()
    sub.close()


def test_only_the_network_thread_writes_to_the_socket(broker, make_cfg, make_event, services):
    """Two writers (paho writes from the publishing thread too) once put adjacent events out of order."""
    import threading

    cfg = make_cfg(broker.url, device="room-9", mqtt__max_inflight=20)
    ob = outbox_for(cfg)
    sub = Subscriber(broker, ["microexpr/room-9/events"])
    svc = PublisherService(cfg, ob)
    writers: list[str] = []
    real_write = svc._client.loop_write

    def recording_write():
        writers.append(threading.current_thread().name)
        return real_write()

    svc._client.loop_write = recording_write
    svc.start()
    try:
        assert svc.wait_connected(5)
        events = [make_event(i) for i in range(200)]
        for e in events:
            ob.put(e)
        svc.notify()
        assert svc.flush(20)
        assert sub.wait_for(lambda s: len(s.on("microexpr/room-9/events")) == 200, 10)
        assert [json.loads(p)["id"] for p in sub.payloads("microexpr/room-9/events")] == [e.id for e in events]
        assert writers and set(writers) == {"mqtt-network"}
    finally:
        svc.stop(2.0)
        sub.close()


def test_short_outage_resends_everything_unacknowledged(broker, make_cfg, make_event, services):
    cfg = make_cfg(broker.url, device="room-2")
    ob = outbox_for(cfg)
    sub = Subscriber(broker, ["microexpr/room-2/events"])
    svc = services(cfg, ob)
    for i in range(50):
        ob.put(make_event(i))
    broker.stop()
    for i in range(50, 150):  # buffered while the broker is down
        ob.put(make_event(i))
    assert ob.stats().depth >= 100
    time.sleep(1.0)
    broker.start()
    assert svc.flush(30)
    assert sub.wait_for(lambda s: {json.loads(p)["id"] for p in s.payloads("microexpr/room-2/events")} == ob.ids(), 15)
    assert svc.connects >= 2
    sub.close()


def request(broker, topic: str, payload: bytes, client_id: str = "requester", timeout: float = 10.0,
            retain: bool = False) -> tuple[dict | None, bytes | None]:
    """Publish one command with ResponseTopic and CorrelationData; return (reply, correlation)."""
    reply_topic = f"microexpr/room-1/reply/{client_id}"
    sub = Subscriber(broker, [reply_topic], client_id=client_id)
    props = Properties(PacketTypes.PUBLISH)
    props.ResponseTopic = reply_topic
    corr = uuid.uuid4().bytes
    props.CorrelationData = corr
    sub.client.publish(topic, payload, qos=1, properties=props, retain=retain).wait_for_publish(5)
    ok = sub.wait_for(lambda s: s.on(reply_topic), timeout)
    msgs = sub.on(reply_topic)
    sub.close()
    if not ok:
        return None, None
    assert msgs[0].properties.CorrelationData == corr
    return json.loads(msgs[0].payload), msgs[0].properties.CorrelationData


def test_commands_through_the_broker(broker, make_cfg, services):
    cfg = make_cfg(broker.url)
    ob = outbox_for(cfg)
    watch = Subscriber(broker, ["microexpr/room-1/session"], client_id="watch")
    # a retained command would replay on every (re)subscribe: the unit must ignore it
    watch.client.publish("microexpr/room-1/cmd/start_session", b'{"id": "ghost"}', qos=1,
                         retain=True).wait_for_publish(5)
    svc = services(cfg, ob)
    reply, _ = request(broker, "microexpr/room-1/cmd/start_session", b'{"id": "int-7"}')
    REPLY.validate(reply)
    assert reply["ok"] and reply["result"]["session"]["id"] == "int-7"
    assert ob.current_session()["id"] == "int-7"
    assert watch.wait_for(lambda s: s.payloads("microexpr/room-1/session")
                          and json.loads(s.payloads("microexpr/room-1/session")[-1])["id"] == "int-7", 5)
    for topic, payload, why in [
        ("microexpr/room-1/cmd/start_session", b'{"id": ', "invalid JSON"),
        ("microexpr/room-1/cmd/start_session", b'{"id": 7}', "expected a string"),
        ("microexpr/room-1/cmd/start_session", b'{"id": "' + b"x" * 10_000 + b'"}', "too large"),
        ("microexpr/room-1/cmd/format_disk", b"{}", "unknown command"),
        ("microexpr/room-1/cmd/set_thresholds", b'{"threshold": 3}', "no spotter"),
    ]:
        reply, _ = request(broker, topic, payload)
        REPLY.validate(reply)
        assert not reply["ok"] and why in reply["error"]
        assert ob.current_session()["id"] == "int-7" and len(ob.sessions()) == 1
    # the retained command left on the broker before the unit connected was never executed
    assert [s["id"] for s in ob.sessions()] == ["int-7"]
    reply, _ = request(broker, "microexpr/room-1/cmd/health", b"{}")
    HEALTH.validate(reply["result"]["health"])
    assert svc.connected
    watch.close()


def test_health_reports_on_interval(broker, make_cfg, make_event, services):
    cfg = make_cfg(broker.url, mqtt__health_interval_s=0.5, device__site="hq", device__room="12")
    ob = outbox_for(cfg)
    for i in range(3):
        ob.put(make_event(i))
    sub = Subscriber(broker, ["microexpr/room-1/health"])
    snap = HealthSnapshot(frames_in=1200, frames_processed=1190, frames_dropped=10, camera="ok")
    snap.latency.add({"detect": 2.0, "mesh": 5.0})
    services(cfg, ob, wait=False, snapshot=snap)
    assert sub.wait_for(lambda s: len(s.on("microexpr/room-1/health")) >= 3, 5)
    reports = [json.loads(p) for p in sub.payloads("microexpr/room-1/health")]
    for r in reports:
        HEALTH.validate(r)
    last = reports[-1]
    assert (last["site"], last["room"], last["camera"]) == ("hq", "12", "ok")
    assert last["frames_dropped"] == 10 and last["latency_ms"]["mesh"] == {"p50": 5.0, "p99": 5.0}
    assert last["outbox"]["depth"] == 0 and last["mqtt"]["delivered"] == 3
    assert last["mem_rss_mb"] > 10 and last["disk_free_mb"] > 0
    assert all(m.qos == 0 for m in sub.on("microexpr/room-1/health"))
    sub.close()


def test_home_assistant_discovery_and_reannounce(broker, make_cfg, services):
    cfg = make_cfg(broker.url, mqtt__homeassistant=True)
    sub = Subscriber(broker, ["homeassistant/device/room-1/config"])
    svc = services(cfg, outbox_for(cfg), wait=False)
    assert sub.wait_for(lambda s: len(s.messages) == 1, 5)
    doc = json.loads(sub.messages[0].payload)
    DISCOVERY.validate(doc)
    event = next(c for c in doc["cmps"].values() if c["p"] == "event")
    assert sorted(event["evt_typ"]) == ["anger", "contempt", "disgust", "fear", "happiness", "sadness", "surprise"]
    assert doc["avty_t"] == "microexpr/room-1/status" and event["stat_t"] == "microexpr/room-1/events"
    ha = Subscriber(broker, [], client_id="home-assistant")
    ha.client.publish("homeassistant/status", b"online", qos=1).wait_for_publish(5)
    assert sub.wait_for(lambda s: len(s.messages) == 2, 5)
    ha.close()
    sub.close()


USERS = {"admin": "admin-pw", "room-1": "pw-1", "room-2": "pw-2"}


def test_acl_refuses_other_devices_topics_and_device_keeps_delivering(broker_factory, tmp_path, make_cfg,
                                                                    make_event, services, caplog):
    b = broker_factory(secure_conf(tmp_path / "sec", USERS))
    sub = Subscriber(b, ["microexpr/#"], client_id="fleet", username="admin", password="admin-pw")
    cfg = make_cfg(f"mqtt://room-1:pw-1@127.0.0.1:{b.port}")
    ob = outbox_for(cfg)
    caplog.set_level(logging.INFO, logger="edge.publish")
    svc = services(cfg, ob)
    for i in range(3):
        svc.publish_json("microexpr/room-2/events", {"spoof": i})  # another device's topic
    for i in range(20):
        ob.put(make_event(i))
    assert svc.flush(10)
    assert sub.wait_for(lambda s: len(s.on("microexpr/room-1/events")) == 20, 5)
    assert sub.on("microexpr/room-2/events") == []
    assert svc.refused_other == 3 and svc.connected
    refusals = [r for r in caplog.records if "refused publish to microexpr/room-2/events" in r.getMessage()]
    assert len(refusals) == 1 and "Not authorized (0x87)" in refusals[0].getMessage()

    # a unit whose credentials are for room-1 but which claims to be room-2: every event refused, kept
    cfg2 = make_cfg(f"mqtt://room-1:pw-1@127.0.0.1:{b.port}", device="room-2", mqtt__client_id="impostor")
    ob2 = outbox_for(cfg2)
    svc2 = services(cfg2, ob2, wait=False)
    for i in range(5):
        ob2.put(make_event(i))
    deadline = time.monotonic() + 10
    while ob2.stats().refused < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    st = ob2.stats()
    assert (st.refused, st.depth, svc2.delivered) == (5, 5, 0)  # never marked delivered, never lost
    assert ob2.pending(10) == []  # and not blocking the queue
    assert svc2.health_payload()["outbox"]["refused"] == 5
    assert svc2.connected and sub.on("microexpr/room-2/events") == []
    sub.close()


def test_wrong_password_fails_clearly(broker_factory, tmp_path, make_cfg, services):
    b = broker_factory(secure_conf(tmp_path / "sec", USERS))
    cfg = make_cfg(f"mqtt://room-1:wrong@127.0.0.1:{b.port}")
    svc = services(cfg, outbox_for(cfg), wait=False)
    deadline = time.monotonic() + 5
    while not svc.last_error and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "refused the connection" in svc.last_error and "Not authorized" in svc.last_error
    assert not svc.connected


def test_tls_with_server_verification_and_a_wrong_ca(broker_factory, tmp_path, make_cfg, make_event, services):
    tls = make_test_ca(tmp_path / "pki")
    wrong = make_test_ca(tmp_path / "pki-wrong", name="other")
    tls_port = free_port()
    b = broker_factory(secure_conf(tmp_path / "sec", USERS, tls=tls, tls_port=tls_port))
    sub = Subscriber(b, ["microexpr/room-1/events"], client_id="fleet", username="admin", password="admin-pw",
                     tls_ca=tls.ca, port=tls_port)
    cfg = make_cfg(f"mqtts://127.0.0.1:{tls_port}", mqtt__username="room-1", mqtt__password="pw-1",
                   mqtt__ca_file=str(tls.ca))
    ob = outbox_for(cfg)
    ob.put(make_event(1))
    svc = services(cfg, ob, wait=False)
    assert svc.flush(10)
    assert sub.wait_for(lambda s: len(s.messages) == 1, 5)

    bad_cfg = make_cfg(f"mqtts://127.0.0.1:{tls_port}", device="room-2", mqtt__username="room-2",
                       mqtt__password="pw-2", mqtt__ca_file=str(wrong.ca))
    bad = services(bad_cfg, outbox_for(bad_cfg), wait=False)
    deadline = time.monotonic() + 5
    while not bad.last_error and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "certificate verify failed" in bad.last_error and f"127.0.0.1:{tls_port}" in bad.last_error
    assert not bad.connected
    sub.close()


def test_client_uses_mqtt5_persistent_session(broker, make_cfg, services):
    cfg = make_cfg(broker.url, mqtt__session_expiry_s=600)
    svc = services(cfg, outbox_for(cfg))
    svc.stop(5)
    log = broker.log.read_text()
    # mosquitto logs the CONNECT flags: c0 = clean start off; p5 = MQTT 5; k = keep-alive
    line = next(l for l in log.splitlines() if "New client connected" in l and "microexpr-room-1" in l)
    assert "p5" in line and "c0" in line and f"k{cfg.mqtt.keepalive_s}" in line
    svc2 = services(cfg, outbox_for(cfg))
    time.sleep(0.2)
    assert svc2.connects == 1
    assert mqtt.MQTTv5 == svc2._client.protocol


@pytest.mark.slow
def test_1000_events_across_a_30_s_broker_outage(broker, make_cfg, make_event, services):
    """Acceptance: broker stopped 30 s and restarted mid-stream; a persistent subscriber gets every id."""
    import threading

    cfg = make_cfg(broker.url, device="room-3")
    ob = outbox_for(cfg)
    sub = Subscriber(broker, ["microexpr/room-3/events"], client_id="fleet-persistent")
    svc = services(cfg, ob)
    put_ids: list[str] = []

    def produce() -> None:  # 1,000 events over ~36 s, the spotter's pace in a lively interview
        for i in range(1000):
            e = make_event(i)
            ob.put(e)
            put_ids.append(e.id)
            time.sleep(0.036)

    producer = threading.Thread(target=produce)
    producer.start()
    time.sleep(3.0)
    broker.stop()
    down_at = len(put_ids)
    time.sleep(30.0)
    depth_during_outage = ob.stats().depth
    put_during_outage = len(put_ids) - down_at
    broker.start()
    producer.join()
    assert svc.flush(30)
    expected = ob.ids()
    assert len(expected) == 1000 and set(put_ids) == expected
    assert sub.wait_for(lambda s: {json.loads(p)["id"] for p in s.payloads("microexpr/room-3/events")} == expected,
                        30)
    received = [json.loads(p)["id"] for p in sub.payloads("microexpr/room-3/events")]
    assert set(received) == expected
    # the outage really held a large part of the stream, all of it kept undelivered in the outbox
    assert put_during_outage > 500 and depth_during_outage >= put_during_outage
    print(f"outage: {depth_during_outage} events buffered, {len(received)} received, "
          f"{len(received) - len(expected)} duplicates")
    sub.close()


def test_device_loop_health_replaces_the_services_own(broker, make_cfg, services):
    from edge.publish.health import build_health

    cfg = make_cfg(broker.url, mqtt__health_interval_s=0.5)
    ob = outbox_for(cfg)
    sub = Subscriber(broker, ["microexpr/room-1/health"])
    svc = services(cfg, ob)
    time.sleep(0.5)
    own = len(sub.on("microexpr/room-1/health"))
    assert own >= 1
    unit = HealthSnapshot(frames_in=777, camera="ok")
    for _ in range(6):
        svc.publish_health(build_health(cfg.device_id, unit, ob.stats(), cfg.data_dir))
        time.sleep(0.25)
    reports = [json.loads(p) for p in sub.payloads("microexpr/room-1/health")][own:]
    assert len(reports) >= 5
    for r in reports:
        HEALTH.validate(r)
    assert {r["frames_in"] for r in reports} == {777}  # the service's own empty snapshot stayed quiet
    reply, _ = request(broker, "microexpr/room-1/cmd/health", b"{}")
    assert reply["result"]["health"]["frames_in"] == 777
    sub.close()


def test_mutual_tls_client_certificate_is_the_identity(broker_factory, tmp_path, make_cfg, make_event, services):
    from fixtures.broker import make_client_cert

    tls = make_test_ca(tmp_path / "pki")
    cert, key = make_client_cert(tls, tmp_path / "pki", "room-1")
    mtls_port = free_port()
    b = broker_factory(secure_conf(tmp_path / "sec", USERS, tls=tls, tls_port=free_port(), mtls_port=mtls_port))
    sub = Subscriber(b, ["microexpr/#"], client_id="fleet", username="admin", password="admin-pw")
    cfg = make_cfg(f"mqtts://127.0.0.1:{mtls_port}", mqtt__ca_file=str(tls.ca), mqtt__cert_file=str(cert),
                   mqtt__key_file=str(key))
    ob = outbox_for(cfg)
    for i in range(5):
        ob.put(make_event(i))
    svc = services(cfg, ob, wait=False)
    assert svc.flush(10)
    assert sub.wait_for(lambda s: len(s.on("microexpr/room-1/events")) == 5, 5)
    # the ACL applies to the certificate's identity: room-1 still cannot write room-2's topics
    svc.publish_json("microexpr/room-2/events", {"spoof": 1})
    deadline = time.monotonic() + 5
    while svc.refused_other < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert svc.refused_other == 1
    # without a client certificate the listener refuses the TLS handshake
    bare = make_cfg(f"mqtts://127.0.0.1:{mtls_port}", device="room-2", mqtt__ca_file=str(tls.ca))
    nocert = services(bare, outbox_for(bare), wait=False)
    deadline = time.monotonic() + 5
    while not nocert.last_error and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not nocert.connected and "closed before the broker accepted it" in nocert.last_error
    sub.close()


def test_replies_only_under_its_own_reply_tree(broker, make_cfg, services, caplog):
    """Issue 18 item 3: the unit answers only on <prefix>/<device>/reply/<client>, where the ACL lets it write."""
    cfg = make_cfg(broker.url)
    ob = outbox_for(cfg)
    caplog.set_level(logging.INFO, logger="edge.publish")
    svc = services(cfg, ob)
    watch = Subscriber(broker, ["#"], client_id="watch-all")
    elsewhere = ["microexpr/_dashboard/x/reply", "microexpr/room-2/reply/x", "microexpr/room-1/events",
                 "microexpr/room-1/reply/a/b", "other/reply"]
    for i, topic in enumerate(elsewhere):
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = topic
        props.CorrelationData = b"c%d" % i
        watch.client.publish("microexpr/room-1/cmd/health", b"{}", qos=1, properties=props).wait_for_publish(5)
    reply, _ = request(broker, "microexpr/room-1/cmd/health", b"{}")  # the proper place still works
    assert reply and reply["ok"]
    def dropped() -> list[str]:
        return [r.getMessage() for r in caplog.records if "outside microexpr/room-1/reply/<client>" in r.getMessage()]

    # Commands may finish in any order on a loaded machine: wait for all five refusals, not a fixed time.
    deadline = time.monotonic() + 10
    while len(dropped()) < len(elsewhere) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(dropped()) == len(elsewhere)
    time.sleep(0.3)  # a stray reply would have reached the watcher by now
    assert [m.topic for m in watch.messages if m.topic in elsewhere] == []
    watch.close()
