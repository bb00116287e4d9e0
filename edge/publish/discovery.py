"""Home Assistant MQTT discovery, device-based: one retained config for the whole unit.

Published on ``<discovery_prefix>/device/<device>/config`` when
``mqtt.homeassistant`` is on, and again whenever Home Assistant announces
``online`` on ``<discovery_prefix>/status``. Availability follows the unit's
retained status topic (``online`` / ``offline`` Last Will).
"""

from __future__ import annotations

from typing import Any

from edge import __version__
from edge.config import Config
from edge.events.record import EMOTIONS
from edge.publish.topics import Topics

ORIGIN = {"name": "microexpr", "sw": __version__}


def discovery_payload(cfg: Config, topics: Topics) -> tuple[str, dict[str, Any]]:
    """(topic, config document) for Home Assistant's device-based discovery."""
    dev = cfg.device_id
    uid = f"microexpr_{dev}"
    device: dict[str, Any] = {
        "ids": [uid],
        "name": f"microexpr {dev}",
        "mf": "microexpr",
        "mdl": "Micro-expression spotter",
        "sw": __version__,
    }
    if cfg.device.room:
        device["sa"] = cfg.device.room
    components: dict[str, dict[str, Any]] = {
        f"{uid}_expression": {
            "p": "event",
            "name": "Micro expression",
            "uniq_id": f"{uid}_expression",
            "stat_t": topics.events,
            "evt_typ": list(EMOTIONS),
            "val_tpl": ('{{ {"event_type": value_json.emotion, "type": value_json.type, '
                        '"confidence": value_json.confidence, "session": value_json.session, '
                        '"id": value_json.id} | to_json }}'),
            "icon": "mdi:emoticon-outline",
        },
        f"{uid}_last_emotion": {
            "p": "sensor",
            "name": "Last emotion",
            "uniq_id": f"{uid}_last_emotion",
            "stat_t": topics.events,
            "val_tpl": "{{ value_json.emotion }}",
            "icon": "mdi:emoticon",
        },
        f"{uid}_fps": {
            "p": "sensor",
            "name": "Frames processed per second",
            "uniq_id": f"{uid}_fps",
            "stat_t": topics.health,
            "val_tpl": "{{ value_json.fps_processed }}",
            "unit_of_meas": "fps",
            "stat_cla": "measurement",
            "ent_cat": "diagnostic",
        },
        f"{uid}_outbox_depth": {
            "p": "sensor",
            "name": "Undelivered events",
            "uniq_id": f"{uid}_outbox_depth",
            "stat_t": topics.health,
            "val_tpl": "{{ value_json.outbox.depth }}",
            "stat_cla": "measurement",
            "ent_cat": "diagnostic",
        },
        f"{uid}_cpu_temp": {
            "p": "sensor",
            "name": "CPU temperature",
            "uniq_id": f"{uid}_cpu_temp",
            "stat_t": topics.health,
            "val_tpl": "{{ value_json.cpu_temp_c }}",
            "dev_cla": "temperature",
            "unit_of_meas": "°C",
            "stat_cla": "measurement",
            "ent_cat": "diagnostic",
        },
    }
    doc = {
        "dev": device,
        "o": ORIGIN,
        "cmps": components,
        "avty_t": topics.status,
        "pl_avail": "online",
        "pl_not_avail": "offline",
        "qos": 1,
    }
    return topics.discovery, doc
