"""10,000 events from 50 simulated devices through a real broker into the real dashboard process(es).

Some events are sent twice on purpose; the store must end with each exactly once,
on SQLite, on PostgreSQL, and with two instances splitting one shared subscription
into one PostgreSQL store.
"""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from dashboard_helpers import make_event, mqtt_client, wait_for

pytestmark = pytest.mark.slow

DEVICES = 50
PER_DEVICE = 200
CLIENTS = 5
RESEND_EVERY = 37  # every 37th event is published a second time


def fleet_events() -> dict[str, list[dict]]:
    return {f"room-{d:02d}": [make_event(f"room-{d:02d}", f"iv-{d:02d}-{i // 50}", i) for i in range(PER_DEVICE)]
            for d in range(DEVICES)}


def publish_fleet(url: str, fleet: dict[str, list[dict]]) -> int:
    """Publish everything at QoS 1 from a few clients in parallel; returns how many messages were sent."""
    import json

    devices = sorted(fleet)
    sent = [0] * CLIENTS
    errors: list[BaseException] = []

    def run(k: int) -> None:
        try:
            c = mqtt_client(url, max_inflight=200)
            infos = []
            mine = devices[k::CLIENTS]
            for i in range(PER_DEVICE):
                for dev in mine:
                    e = fleet[dev][i]
                    payload = json.dumps(e)
                    infos.append(c.publish(f"microexpr/{dev}/events", payload, qos=1))
                    if i % RESEND_EVERY == 0:
                        infos.append(c.publish(f"microexpr/{dev}/events", payload, qos=1))
            for info in infos:
                info.wait_for_publish(120)
            sent[k] = len(infos)
            c.disconnect()
            c.loop_stop()
        except BaseException as e:  # noqa: BLE001  (surfaced below)
            errors.append(e)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return sum(sent)


def settle(clients, total_messages: int, timeout: float = 180.0) -> list[dict]:
    """Wait until the instances together have processed every message, then return their counters."""
    def processed():
        stats = [c.get("/api/stats").json()["ingest"] for c in clients]
        done = sum(s.get("stored", 0) + s.get("duplicates", 0) for s in stats)
        return stats if done >= total_messages else None
    wait_for(processed, timeout=timeout, interval=0.5, what="all messages processed")
    time.sleep(1.0)  # nothing more may arrive after that
    return [c.get("/api/stats").json()["ingest"] for c in clients]


def check(stats: list[dict], stored_ids: list[str], fleet: dict[str, list[dict]], sent: int) -> None:
    want = {e["id"] for es in fleet.values() for e in es}
    assert len(want) == DEVICES * PER_DEVICE == 10_000
    assert len(stored_ids) == len(set(stored_ids)) == 10_000  # no duplicates
    assert set(stored_ids) == want  # no loss
    assert sum(s["stored"] for s in stats) == 10_000
    assert sum(s["duplicates"] for s in stats) == sent - 10_000 > 0
    assert sum(s.get("malformed", 0) for s in stats) == 0


def test_ten_thousand_events_on_sqlite(broker, start_dashboard, tmp_path):
    dash = start_dashboard(mqtt_url=broker.url, data_dir=tmp_path / "d")
    c = dash.login()
    fleet = fleet_events()
    t = time.monotonic()
    sent = publish_fleet(broker.url, fleet)
    stats = settle([c], sent)
    print(f"sqlite: {sent} messages ingested in {time.monotonic() - t:.1f} s")
    with sqlite3.connect(tmp_path / "d" / "dashboard.sqlite3") as db:
        ids = [r[0] for r in db.execute("SELECT id FROM events")]
    check(stats, ids, fleet, sent)
    assert len(c.get("/api/devices").json()["devices"]) == DEVICES
    assert c.get("/api/events", params={"device": "room-07", "limit": 1000}).json()["total"] == PER_DEVICE


@pytest.mark.postgres
def test_ten_thousand_events_two_instances_one_postgres(broker, start_dashboard, postgres_url):
    import psycopg

    a = start_dashboard(mqtt_url=broker.url, database=postgres_url)
    b = start_dashboard(mqtt_url=broker.url, database=postgres_url)
    ca, cb = a.login(), b.login()
    fleet = fleet_events()
    t = time.monotonic()
    sent = publish_fleet(broker.url, fleet)
    stats = settle([ca, cb], sent)
    print(f"postgres x2: {sent} messages ingested in {time.monotonic() - t:.1f} s; split {[s['stored'] for s in stats]}")
    with psycopg.connect(postgres_url) as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM events")]
    check(stats, ids, fleet, sent)
    # The shared subscription split the fleet: both instances did real work.
    assert all(s["stored"] > 1000 for s in stats), stats
    # Both read the one store.
    assert ca.get("/api/events", params={"limit": 1}).json()["total"] == 10_000
    assert cb.get("/api/events", params={"emotion": "fear", "limit": 1}).json()["total"] == sum(
        e["emotion"] == "fear" for es in fleet.values() for e in es)


@pytest.mark.postgres
def test_ten_thousand_events_on_postgres(broker, start_dashboard, postgres_url):
    import psycopg

    dash = start_dashboard(mqtt_url=broker.url, database=postgres_url)
    c = dash.login()
    fleet = fleet_events()
    sent = publish_fleet(broker.url, fleet)
    stats = settle([c], sent)
    with psycopg.connect(postgres_url) as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM events")]
    check(stats, ids, fleet, sent)
