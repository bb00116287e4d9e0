"""Helpers for the dashboard tests: event payloads, the real `microexpr dashboard` process, MQTT clients."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from fixtures.broker import free_port

from edge.events.outbox import Outbox
from edge.events.record import EMOTIONS

PASSWORD = "correct horse battery staple"
MICROEXPR = str(Path(sys.executable).parent / "microexpr")
T0 = datetime(2026, 11, 29, 10, 0, 0, tzinfo=UTC)


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def make_event(device: str = "room-12", session: str = "interview-42", i: int = 0, *,
               emotion: str | None = None, type: str | None = None, confidence: float | None = None,
               start: datetime = T0) -> dict[str, Any]:
    """One event record as ARCHITECTURE.md shapes it; deterministic per (device, session, i)."""
    rng = random.Random(f"{device}/{session}/{i}")
    emotion = emotion if emotion is not None else EMOTIONS[i % len(EMOTIONS)]
    type = type or ("micro" if i % 3 else "macro")
    dur = rng.uniform(60, 450) if type == "micro" else rng.uniform(600, 2500)
    onset = start + timedelta(seconds=2.5 * i)
    apex = onset + timedelta(milliseconds=dur * 0.4)
    offset = onset + timedelta(milliseconds=dur)
    conf = confidence if confidence is not None else round(rng.uniform(0.3, 0.99), 3)
    scores = {e: 0.0 for e in EMOTIONS}
    if emotion:
        scores[emotion] = conf
    return {
        "schema": 1, "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "device": device, "session": session, "video": "camera",
        "onset_frame": 120 * i, "apex_frame": 120 * i + 5, "offset_frame": 120 * i + 20,
        "onset_utc": iso(onset), "apex_utc": iso(apex), "offset_utc": iso(offset),
        "duration_ms": round(dur, 1), "type": type, "emotion": emotion, "confidence": conf,
        "scores": scores, "aus": {"AU6": 0.4, "AU12": 0.7}, "head_pose": {"yaw": 2.1, "pitch": -4.0, "roll": 0.5},
        "versions": {"software": "0.1.0", "models": "abc123"},
    }


def make_health(device: str = "room-12", **over: Any) -> dict[str, Any]:
    h = {
        "schema": 1, "device": device, "site": "Leeds", "room": "Interview 3", "ts": iso(datetime.now(UTC)),
        "uptime_s": 3600, "fps_in": 120.0, "fps_processed": 118.5, "frames_in": 432000, "frames_processed": 431000,
        "frames_dropped": 1000, "latency_ms": {"total": {"p50": 6.2, "p99": 11.8}}, "cpu_temp_c": 61.5,
        "throttled": 0, "mem_rss_mb": 310, "disk_free_mb": 20000,
        "outbox": {"depth": 3, "oldest_undelivered_age_s": 1.2, "evicted_delivered": 0, "evicted_undelivered": 0,
                   "refused": 0},
        "camera": "ok", "versions": {"software": "0.1.0", "models": "abc123", "runtime": "litert"},
    }
    h.update(over)
    return h


def mqtt_client(url: str, client_id: str = "", will: tuple[str, str] | None = None,
                max_inflight: int = 20) -> mqtt.Client:
    """A connected MQTT 5 client with its loop running."""
    host, port = url.removeprefix("mqtt://").split(":")
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id or f"test-{uuid.uuid4().hex[:8]}",
                    protocol=mqtt.MQTTv5)
    c.max_inflight_messages_set(max_inflight)
    if will:
        c.will_set(will[0], will[1], qos=1, retain=True)
    c.connect(host, int(port), keepalive=30)
    c.loop_start()
    deadline = time.monotonic() + 10
    while not c.is_connected():
        if time.monotonic() > deadline:
            raise RuntimeError("test MQTT client did not connect")
        time.sleep(0.02)
    return c


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.1, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what or predicate}: last {last!r}")


@dataclass
class DashboardProcess:
    """`microexpr dashboard` running as a subprocess on a free loopback port."""

    proc: subprocess.Popen
    url: str
    log: Path
    clients: list[httpx.Client] = field(default_factory=list)

    def login(self) -> httpx.Client:
        c = httpx.Client(base_url=self.url, timeout=30)
        r = c.post("/login", data={"password": PASSWORD, "next": "/"})
        assert r.status_code == 303, r.text
        self.clients.append(c)
        return c

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        for c in self.clients:
            c.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def start_dashboard(tmp_path):
    """Start dashboards; each is stopped at teardown. Returns the process handle once it answers."""
    made: list[DashboardProcess] = []

    def start(*, mqtt_url: str = "", local: bool = False, database: str = "", data_dir: Path | None = None,
              env: dict[str, str] | None = None, wait_connected: bool = True) -> DashboardProcess:
        port = free_port()
        n = len(made)
        data = data_dir or tmp_path / f"dash{n}"
        log = tmp_path / f"dashboard{n}.log"
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("MICROEXPR_")}
        full_env.update({"MICROEXPR_DATA_DIR": str(data), "MICROEXPR_DASHBOARD_PASSWORD": PASSWORD,
                         "MICROEXPR_DEVICE_ID": "unit-local"})
        if mqtt_url:
            full_env["MICROEXPR_MQTT_URL"] = mqtt_url
        full_env.update(env or {})
        cmd = [MICROEXPR, "dashboard", "--listen", f"127.0.0.1:{port}"]
        if local:
            cmd.append("--local")
        if database:
            cmd += ["--database", database]
        with open(log, "wb") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=full_env)
        d = DashboardProcess(proc=proc, url=f"http://127.0.0.1:{port}", log=log)
        made.append(d)
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"dashboard exited {proc.returncode}: {d.log_text()}")
            try:
                if httpx.get(d.url + "/login", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"dashboard did not answer: {d.log_text()}")
            time.sleep(0.1)
        if mqtt_url and wait_connected:
            c = d.login()
            wait_for(lambda: c.get("/api/stats").json()["ingest"].get("connected"), what="dashboard MQTT connection")
        return d

    yield start
    for d in made:
        d.stop()


def publish_json(client: mqtt.Client, topic: str, payload: Any, qos: int = 1, retain: bool = False) -> None:
    info = client.publish(topic, json.dumps(payload) if not isinstance(payload, (str, bytes)) else payload,
                          qos=qos, retain=retain)
    if qos:
        info.wait_for_publish(10)


def write_clip(clips: Path, event_id: str, n: int = 12, level: list | None = None) -> dict:
    """A clip in the issue-7 format: clip.json plus face-region JPEGs (and `level`, the per-frame score over
    its threshold, when given)."""
    d = clips / event_id
    d.mkdir(parents=True)
    frames = []
    for i in range(n):
        img = np.full((96, 96, 3), 40 + 8 * i, np.uint8)
        cv2.circle(img, (48, 48), 20 + i, (200, 180, 160), -1)
        ok, buf = cv2.imencode(".jpg", img)
        assert ok
        name = f"{i:04d}.jpg"
        (d / name).write_bytes(buf.tobytes())
        frames.append(name)
    meta = {"event_id": event_id, "fps": 120.0, "t_ms": [round(i * 1000 / 120, 3) for i in range(n)],
            "onset": 3, "apex": 6, "offset": 9, "frames": frames, "box": [10, 10, 106, 106]}
    if level is not None:
        meta["level"] = level
    (d / "clip.json").write_text(json.dumps(meta))
    return meta


def fill_outbox(data: Path) -> list[dict]:
    events = [make_event("unit-local", "iv-7", i) for i in range(8)] + [make_event("unit-local", "iv-8", i) for i in range(3)]
    ob = Outbox(data / "outbox.sqlite3", device="unit-local")
    try:
        for e in events:
            ob.put(e)
    finally:
        ob.close()
    return events
