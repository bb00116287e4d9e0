"""`microexpr run` as systemd runs it: a subprocess replaying 120 fps footage in real time.

A real unix datagram socket stands in for systemd's notify socket; the real
face pipeline runs on the footage; health is read from the unit's health.json
and from a real Mosquitto. The stalled-pipeline case is tested at the class
level in tests/device/test_unit.py (a blocking pipeline stand-in).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import paho.mqtt.client as mqtt
import pytest
from fixtures.footage import write_head_motion_clip

ROOT = Path(__file__).resolve().parents[2]
SECONDS = 4.0


@pytest.fixture(scope="module")
def footage_120(tmp_path_factory) -> Path:
    return write_head_motion_clip(tmp_path_factory.mktemp("run") / "astronaut_120.mp4", fps=120.0, seconds=SECONDS)


class NotifyListener:
    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.05)
        self.got: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096).decode()
            except TimeoutError:
                continue
            now = time.monotonic()
            self.got.extend((now, line) for line in data.split("\n"))

    def times(self, line: str) -> list[float]:
        return [t for t, x in list(self.got) if x == line]

    def wait(self, line: str, timeout: float) -> float:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            ts = self.times(line)
            if ts:
                return ts[0]
            time.sleep(0.02)
        raise AssertionError(f"{line} not received in {timeout} s; got {[x for _, x in self.got][:20]}")

    def close(self) -> None:
        self._stop.set()
        self._t.join()
        self.sock.close()


def test_run_replays_120fps_feeds_watchdog_reports_health_and_stops_cleanly(tmp_path, footage_120, broker):
    n_frames = int(cv2.VideoCapture(str(footage_120)).get(cv2.CAP_PROP_FRAME_COUNT))
    assert n_frames == int(SECONDS * 120)
    data = tmp_path / "data"
    conf = tmp_path / "config.toml"
    conf.write_text(
        f'[device]\nid = "hil-1"\ndata_dir = "{data}"\n'
        f'[source]\nkind = "video"\npath = "{footage_120}"\nrealtime = true\nfps = 120.0\n'
        f'[mqtt]\nurl = "{broker.url}"\nhealth_interval_s = 0.5\n'
    )
    health_msgs: list[dict] = []
    sub = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    sub.on_message = lambda c, u, m: health_msgs.append(json.loads(m.payload))
    sub.connect("127.0.0.1", broker.port)
    sub.subscribe("microexpr/hil-1/health", qos=0)
    sub.loop_start()
    listener = NotifyListener(tmp_path / "notify.sock")
    systemd_vars = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "RUNTIME_DIRECTORY")
    env = {k: v for k, v in os.environ.items() if k not in systemd_vars}
    env.update(NOTIFY_SOCKET=str(tmp_path / "notify.sock"), WATCHDOG_USEC="1000000", INVOCATION_ID="test")
    proc = subprocess.Popen([sys.executable, "-m", "edge", "--config", str(conf), "run"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready = listener.wait("READY=1", 60)
        # The replay runs ~4 s; the unit then idles (still feeding the watchdog) until stopped.
        health_file = data / "health.json"
        end = time.monotonic() + 30
        final = None
        while time.monotonic() < end:
            try:
                h = json.loads(health_file.read_text())
            except (OSError, ValueError):
                h = None
            if h and h["frames_in"] == n_frames and h["frames_processed"] + h["frames_dropped"] == n_frames:
                final = h
                break
            time.sleep(0.1)
        assert final is not None, f"health never accounted for all {n_frames} frames: {h}"
        time.sleep(1.2)  # idle: the loop must keep feeding the watchdog with no frames
        fed = [t for t in listener.times("WATCHDOG=1") if t > ready]
        span = time.monotonic() - ready
        assert len(fed) >= span / 0.5, (len(fed), span)  # every 1/3 of WatchdogSec=1 s
        gaps = np.diff([ready, *fed])
        assert gaps.max() < 1.0, f"watchdog gap {gaps.max():.2f} s exceeds WatchdogSec"

        t_term = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(5)
        took = time.monotonic() - t_term
        out, err = proc.communicate()
        assert rc == 0, err[-3000:]
        assert took < 5.0
        stopping = listener.wait("STOPPING=1", 1)
        assert stopping >= t_term
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        listener.close()
        sub.loop_stop()
        sub.disconnect()

    h = json.loads(health_file.read_text())
    assert h["frames_in"] == n_frames and h["frames_processed"] + h["frames_dropped"] == n_frames
    assert h["frames_processed"] > 0.2 * n_frames
    assert h["device"] == "hil-1" and set(h["latency_ms"]) >= {"landmarks", "spotting"}
    assert h["versions"]["models"]
    print(f"run: {n_frames} frames in, {h['frames_processed']} processed, {h['frames_dropped']} dropped, "
          f"landmarks p50 {h['latency_ms']['landmarks']['p50']} ms, stop took {took:.2f} s")
    # The same counts reached the broker.
    assert health_msgs, "no health on MQTT"
    last = health_msgs[-1]
    assert {"frames_in", "frames_processed", "frames_dropped"} <= set(last)
    assert max(m["frames_in"] for m in health_msgs) == n_frames
    assert all(k not in json.dumps(m) for m in health_msgs for k in ("jpg", "image", "base64"))
    statuses = [x for _, x in listener.got if x.startswith("STATUS=") and "in=" in x]
    assert statuses and f"in={n_frames}" in statuses[-1]
    assert "Traceback" not in err
