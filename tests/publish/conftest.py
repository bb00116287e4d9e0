"""Fixtures for the publisher tests: a configuration pointing at a test broker, and real event records."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edge.config import Config, load_config
from edge.events.outbox import utc_now_iso
from edge.events.record import Event


@pytest.fixture
def make_cfg(tmp_path: Path) -> Callable[..., Config]:
    """load_config with overrides (section.key -> value) and an empty environment."""

    def make(url: str, device: str = "room-1", **overrides: Any) -> Config:
        o = {"mqtt.url": url, "device.id": device, "device.data_dir": str(tmp_path / f"data-{device}"),
             "mqtt.reconnect_min_s": 0.2, "mqtt.reconnect_max_s": 1.0, "mqtt.health_interval_s": 60.0}
        o.update({k.replace("__", "."): v for k, v in overrides.items()})
        return load_config(None, overrides=o, environ={})

    return make


@pytest.fixture
def make_event() -> Callable[[int], Event]:
    def make(n: int = 0, emotion: str = "happiness") -> Event:
        now = utc_now_iso()
        scores = {e: 0.0 for e in ("anger", "contempt", "disgust", "fear", "happiness", "sadness", "surprise")}
        scores[emotion] = 0.8
        return Event(onset_frame=n, apex_frame=n + 3, offset_frame=n + 9, onset_utc=now, apex_utc=now,
                     offset_utc=now, duration_ms=75.0, type="micro", emotion=emotion, confidence=0.8, scores=scores,
                     aus={"AU6": 0.4, "AU12": 0.7}, head_pose={"yaw": 1.5, "pitch": -2.0, "roll": 0.3},
                     versions={"software": "0.1.0", "models": "abc123"}, id=str(uuid.uuid4()), video="camera")

    return make
