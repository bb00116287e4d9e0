"""The device process killed and frozen: nothing committed is lost, and the fleet sees it go offline."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fixtures.broker import Subscriber

from edge.events.outbox import Outbox

DEVICE_PROC = Path(__file__).with_name("device_proc.py")
ROOT = Path(__file__).resolve().parents[2]
KEEPALIVE = 2


def start_device(broker, tmp_path: Path, device: str, rate: float = 40.0) -> subprocess.Popen:
    conf = tmp_path / "unit.toml"
    conf.write_text(f"[mqtt]\nkeepalive_s = {KEEPALIVE}\nreconnect_min_s = 0.2\nreconnect_max_s = 1.0\n"
                    "health_interval_s = 1.0\n")
    env = {**os.environ, "MICROEXPR_CONFIG": str(conf), "MICROEXPR_MQTT_URL": broker.url,
           "MICROEXPR_DEVICE_ID": device, "MICROEXPR_DATA_DIR": str(tmp_path / "data")}
    with open(tmp_path / f"{device}.log", "ab") as log:
        return subprocess.Popen([sys.executable, str(DEVICE_PROC), str(rate)], env=env, stdout=log, stderr=log)


def count_events(tmp_path: Path) -> int:
    """Read-only peek while the device runs."""
    path = tmp_path / "data" / "outbox.sqlite3"
    if not path.exists():
        return 0
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    except sqlite3.OperationalError:  # tables not created yet
        return 0
    finally:
        db.close()


def committed_ids(tmp_path: Path) -> tuple[set[str], int]:
    ob = Outbox(tmp_path / "data" / "outbox.sqlite3")
    try:
        return ob.ids(), ob.stats().depth
    finally:
        ob.close()


@pytest.mark.slow
def test_sigkill_at_10_random_moments_loses_nothing_committed(broker, tmp_path):
    sub = Subscriber(broker, ["microexpr/unit-k/events"], client_id="fleet-k")
    rng = random.Random(20261129)
    undelivered_at_kill = []
    committed = 0
    for _ in range(10):
        proc = start_device(broker, tmp_path, "unit-k", rate=200.0)
        deadline = time.monotonic() + 20
        while count_events(tmp_path) <= committed and time.monotonic() < deadline:  # running, not starting
            time.sleep(0.02)
        time.sleep(rng.uniform(0.05, 1.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
        ids, depth = committed_ids(tmp_path)
        assert len(ids) > committed, "the device committed nothing in this run"
        committed = len(ids)
        undelivered_at_kill.append(depth)
    before_restart = ids
    log = tmp_path / "unit-k.log"
    connects_before = log.read_text().count("connected to")
    proc = start_device(broker, tmp_path, "unit-k", rate=0.001)  # deliver, produce (almost) nothing more
    try:
        assert sub.wait_for(lambda s: log.read_text().count("connected to") > connects_before, 10)
        def got(s) -> set[str]:
            return {json.loads(p)["id"] for p in s.payloads("microexpr/unit-k/events")}

        assert sub.wait_for(lambda s: before_restart <= got(s), 30), \
            f"{len(before_restart - got(sub))} committed events never delivered"
        final_ids, _ = committed_ids(tmp_path)
        assert sub.wait_for(lambda s: got(s) == final_ids, 10)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    assert len(before_restart) > 100
    assert sum(undelivered_at_kill) > 0  # kills did land with events still undelivered
    print(f"kills: {len(before_restart)} events committed, undelivered at each kill: {undelivered_at_kill}")
    sub.close()


def test_broker_sees_offline_within_keepalive_after_sigkill_and_freeze(broker, tmp_path):
    sub = Subscriber(broker, ["microexpr/unit-s/status"], client_id="fleet-s")

    def last_status(s) -> bytes | None:
        p = s.payloads("microexpr/unit-s/status")
        return p[-1] if p else None

    proc = start_device(broker, tmp_path, "unit-s", rate=5)
    assert sub.wait_for(lambda s: last_status(s) == b"online", 10)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGKILL)
    proc.wait(5)
    assert sub.wait_for(lambda s: last_status(s) == b"offline", 1.5 * KEEPALIVE)
    killed_offline_s = time.monotonic() - t0

    proc = start_device(broker, tmp_path, "unit-s", rate=5)
    try:
        assert sub.wait_for(lambda s: last_status(s) == b"online", 10)
        # frozen (a hung unit or a cut cable: no FIN): only the keep-alive can tell
        time.sleep(0.5)
        proc.send_signal(signal.SIGSTOP)
        t0 = time.monotonic()
        # Mosquitto checks keep-alives from its main loop, not on a timer: allow its tick plus
        # scheduling on a loaded machine. (A SIGKILL above is the acceptance case: immediate.)
        assert sub.wait_for(lambda s: last_status(s) == b"offline", 1.5 * KEEPALIVE + 6.0)
        frozen_offline_s = time.monotonic() - t0
        proc.send_signal(signal.SIGCONT)
        assert sub.wait_for(lambda s: last_status(s) == b"online", 10)
    finally:
        proc.send_signal(signal.SIGCONT)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    assert sub.wait_for(lambda s: last_status(s) == b"offline", 5)  # clean shutdown says so too
    print(f"offline after SIGKILL {killed_offline_s:.2f} s, after freeze {frozen_offline_s:.2f} s "
          f"(keep-alive {KEEPALIVE} s)")
    sub.close()


def test_python_m_edge_publish_drains_a_buffer_and_rejects_a_missing_url(broker, tmp_path):
    from edge.events.record import Event

    ob = Outbox(tmp_path / "data" / "outbox.sqlite3", device="unit-d")
    ids = []
    for i in range(25):
        e = Event(onset_frame=i, apex_frame=i, offset_frame=i, onset_utc="2026-11-29T10:00:00.000Z",
                  apex_utc="2026-11-29T10:00:00.000Z", offset_utc="2026-11-29T10:00:00.000Z", duration_ms=40.0,
                  type="micro", emotion="anger", confidence=0.5, scores={"anger": 0.5}, aus={}, head_pose={},
                  versions={})
        ob.put(e)
        ids.append(e.id)
    ob.close()
    sub = Subscriber(broker, ["microexpr/unit-d/events"], client_id="fleet-d")
    env = {**os.environ, "MICROEXPR_DEVICE_ID": "unit-d", "MICROEXPR_DATA_DIR": str(tmp_path / "data")}
    env.pop("MICROEXPR_MQTT_URL", None)
    env.pop("MICROEXPR_CONFIG", None)
    r = subprocess.run([sys.executable, "-m", "edge.publish", "--drain", "20"], env=env, capture_output=True,
                       text=True, timeout=60, cwd=ROOT, check=False)
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        "python -m edge.publish: mqtt.url: no broker configured (set it or $MICROEXPR_MQTT_URL)"]
    r = subprocess.run([sys.executable, "-m", "edge.publish", "--drain", "20"],
                       env={**env, "MICROEXPR_MQTT_URL": broker.url}, capture_output=True, text=True, timeout=60,
                       cwd=ROOT, check=False)
    assert r.returncode == 0, r.stderr
    assert sub.wait_for(lambda s: {json.loads(p)["id"] for p in s.payloads("microexpr/unit-d/events")} == set(ids), 5)
    with Outbox(tmp_path / "data" / "outbox.sqlite3") as after:
        assert after.stats().depth == 0
    sub.close()
