"""`microexpr replay` buffers every event in the outbox, and publishes it when a broker is set."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from edge.events.outbox import Outbox
from fixtures.broker import Subscriber


def _replay(video, data_dir, mqtt_url: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "MICROEXPR_DATA_DIR": str(data_dir), "MICROEXPR_DEVICE_ID": "room-7"}
    env.pop("MICROEXPR_MQTT_URL", None)
    if mqtt_url:
        env["MICROEXPR_MQTT_URL"] = mqtt_url
    return subprocess.run([sys.executable, "-m", "edge", "replay", str(video)],
                          capture_output=True, text=True, timeout=300, env=env)


def test_replay_without_broker_only_buffers(synth_expressions_clip, tmp_path):
    r = _replay(synth_expressions_clip.video, tmp_path)
    assert r.returncode == 0, r.stderr
    with Outbox(tmp_path / "outbox.sqlite3") as ob:
        events = ob.events(limit=1000)
        stats = ob.stats()
    assert len(events) >= 3, "the clip has 5 expressions"
    assert stats.depth == len(events), "nothing delivered without a broker"
    assert {e["device"] for e in events} == {"room-7"}


def test_replay_with_broker_publishes_every_event(synth_expressions_clip, tmp_path, broker):
    sub = Subscriber(broker, ["microexpr/room-7/#"], client_id="replay-watcher")
    try:
        r = _replay(synth_expressions_clip.video, tmp_path, broker.url)
        assert r.returncode == 0, r.stderr
        assert sub.wait_for(lambda s: s.payloads("microexpr/room-7/status")[-1:] == [b"offline"], 10)
        published = [json.loads(p) for p in sub.payloads("microexpr/room-7/events")]
    finally:
        sub.close()
    with Outbox(tmp_path / "outbox.sqlite3") as ob:
        stored = {e["id"] for e in ob.events(limit=1000)}
        assert ob.stats().depth == 0, "every event acknowledged"
    assert stored and {p["id"] for p in published} == stored
    assert all(p["device"] == "room-7" and p["schema"] == 1 for p in published)
