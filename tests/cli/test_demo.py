"""`microexpr demo --exit`: the product's main job on its embedded default, end to end."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from edge.events.outbox import Outbox


@pytest.mark.slow
def test_demo_replays_spots_buffers_and_scores(tmp_path):
    env = {**os.environ, "MICROEXPR_DEMO_DIR": str(tmp_path)}
    for k in ("MICROEXPR_DATA_DIR", "MICROEXPR_MQTT_URL", "MICROEXPR_CONFIG"):
        env.pop(k, None)
    r = subprocess.run([sys.executable, "-m", "edge", "demo", "--exit"], capture_output=True, text=True,
                       timeout=900, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    found = int(re.search(r"(\d+) events found in", r.stdout).group(1))
    f1 = float(re.search(r"overall F1 ([0-9.]+)", r.stdout).group(1))
    assert found >= 6, r.stdout
    assert f1 >= 0.5, r.stdout
    with Outbox(tmp_path / "data" / "outbox.sqlite3") as ob:
        events = ob.events(limit=1000)
        sessions = ob.sessions()
    assert len(events) == found and all(e["session"].startswith("demo-") for e in events)
    assert sessions and sessions[0]["state"] == "stopped"
    clips = list((tmp_path / "data" / "clips").glob("*/clip.json"))
    assert len(clips) == found, "a slow-motion clip per event"
    metas = [json.loads(p.read_text()) for p in clips]
    # each frame's spotting score over its threshold rides with the clip, for the review's trace
    assert all(len(m["level"]) == len(m["frames"]) for m in metas)
    assert any(v is not None and v >= 1.0 for m in metas for v in m["level"])
