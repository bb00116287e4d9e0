"""The allowed value of every configuration field, in one table.

`edge.config` checks each value against its rule as it loads (after the type is
coerced), so a bad value is one line that names the key and what it may be;
`microexpr config --doc` prints the same rule under each field. A field with no
rule here fails the test suite, so a new field cannot slip in unchecked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

from edge.errors import ConfigError


class Rule(Protocol):
    def check(self, key: str, value: Any) -> None: ...
    def describe(self) -> str: ...


def _num(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) and x < 1e7 else str(int(x)) if float(x).is_integer() else str(x)


@dataclass(frozen=True)
class Between:
    """lo <= value <= hi, or lo < value <= hi with `above`: a finite number either way."""

    lo: float
    hi: float
    above: bool = False  # the lower bound itself is not allowed (a size or an age of 0)

    def describe(self) -> str:
        if self.above:
            return f"more than {_num(self.lo)} and at most {_num(self.hi)}"
        return f"between {_num(self.lo)} and {_num(self.hi)}"

    def check(self, key: str, value: Any) -> None:
        ok = math.isfinite(value) and (self.lo < value if self.above else self.lo <= value) and value <= self.hi
        if not ok:
            raise ConfigError(f"{key}: must be {self.describe()}, got {value!r}")


@dataclass(frozen=True)
class OneOf:
    choices: tuple[Any, ...]

    def describe(self) -> str:
        names = [str(c) for c in self.choices]
        return ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else names[0]

    def check(self, key: str, value: Any) -> None:
        if value not in self.choices:
            raise ConfigError(f"{key}: must be {self.describe()}, got {value!r}")


@dataclass(frozen=True)
class Text:
    """Free text (a name, a path, a URL parsed later); `nonempty` where an empty one means nothing."""

    max_len: int = 4096
    nonempty: bool = False

    def describe(self) -> str:
        return f"{'non-empty ' if self.nonempty else ''}text of at most {self.max_len} characters"

    def check(self, key: str, value: Any) -> None:
        if len(value) > self.max_len or (self.nonempty and not value.strip()) or "\x00" in value:
            raise ConfigError(f"{key}: must be {self.describe()}, got {value[:40]!r}")


@dataclass(frozen=True)
class Flag:
    def describe(self) -> str:
        return "true or false"

    def check(self, key: str, value: Any) -> None:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: must be true or false, got {value!r}")


DAYS = Between(0, 3650, above=True)  # a retention age: 0 or less would erase everything at once
MIB = Between(0, 1_000_000, above=True)
BCM_PIN = Between(0, 27)  # the 40-pin header's GPIO0..GPIO27
PROBABILITY = Between(0.01, 0.99)

RULES: dict[str, Rule] = {
    "device.id": Text(64),
    "device.site": Text(128),
    "device.room": Text(128),
    "device.data_dir": Text(),
    "device.analysis": OneOf(("session", "always")),
    "source.kind": OneOf(("video", "webcam", "picamera2")),
    "source.path": Text(),
    "source.camera_index": Between(0, 63),
    "source.fps": Between(1, 1000),
    "source.width": Between(64, 8192),
    "source.height": Between(64, 8192),
    "source.exposure_us": Between(0, 1_000_000),
    "source.analogue_gain": Between(1, 64),
    "source.mains_hz": OneOf((0, 50, 60)),
    "source.stream": OneOf(("lores", "main")),
    "source.format": OneOf(("rgb", "yuv420")),
    "source.realtime": Flag(),
    "source.queue_frames": Between(1, 10_000),
    "source.wait": OneOf(("auto", "sleep", "poll")),
    "vision.models_dir": Text(),
    "vision.threads": Between(0, 64),
    "vision.detect_threshold": PROBABILITY,
    "vision.presence_threshold": PROBABILITY,
    "vision.emotion_every": Between(1, 1000),
    "vision.side_thread": Flag(),
    "vision.gil_switch_ms": Between(0, 100),
    "vision.loop": OneOf(("serial", "pipelined")),
    "vision.landmark_precision": OneOf(("auto", "fp32", "fp16")),
    # The same ranges as the live `set_thresholds` command (edge.publish.commands.THRESHOLD_RANGES).
    "spotting.min_micro_ms": Between(10, 1000),
    "spotting.max_micro_ms": Between(20, 2000),
    "spotting.max_macro_ms": Between(100, 20_000),
    "spotting.threshold": Between(1, 20),
    "spotting.baseline_s": Between(0.5, 600),
    "spotting.flow": Flag(),
    "spotting.pose_recorrect": Flag(),
    "outbox.max_mb": MIB,
    "outbox.max_age_days": DAYS,
    "outbox.max_events": Between(1, 100_000_000),
    "mqtt.url": Text(),
    "mqtt.prefix": Text(128, nonempty=True),
    "mqtt.client_id": Text(128),
    "mqtt.username": Text(),
    "mqtt.password": Text(),
    "mqtt.password_file": Text(),
    "mqtt.ca_file": Text(),
    "mqtt.cert_file": Text(),
    "mqtt.key_file": Text(),
    "mqtt.keepalive_s": Between(1, 65_535),  # MQTT's two-byte keep-alive
    "mqtt.session_expiry_s": Between(1, 4_294_967_295),  # MQTT 5's four-byte interval
    "mqtt.max_inflight": Between(1, 65_535),  # MQTT 5's Receive Maximum
    "mqtt.reconnect_min_s": Between(0, 3600, above=True),
    "mqtt.reconnect_max_s": Between(0, 3600, above=True),
    "mqtt.health_interval_s": Between(0.1, 3600),  # the unit loop's own floor
    "mqtt.homeassistant": Flag(),
    "mqtt.discovery_prefix": Text(128, nonempty=True),
    "clips.enabled": Flag(),
    "clips.pre_ms": Between(0, 10_000),
    "clips.post_ms": Between(0, 10_000),
    "clips.max_mb": MIB,
    "clips.max_age_days": DAYS,
    "clips.publish": Flag(),
    "dashboard.listen": Text(300, nonempty=True),
    "dashboard.database": Text(),
    "dashboard.password": Text(),
    "dashboard.password_file": Text(),
    "dashboard.password_hash": Text(),
    "dashboard.share_group": Text(128, nonempty=True),
    "dashboard.session_key_file": Text(),
    "dashboard.trusted_proxies": Text(),
    "dashboard.retention_days": DAYS,
    "dashboard.retention_max_events": Between(1, 1_000_000_000),
    "dashboard.retention_interval_s": Between(10, 86_400),
    "gpio.enabled": Flag(),
    "gpio.recording_led_pin": BCM_PIN,
    "gpio.fault_led_pin": BCM_PIN,
    "gpio.button_pin": BCM_PIN,
}


def check_field(key: str, value: Any) -> None:
    """ConfigError naming `key` and its allowed values unless `value` (already of the field's type) fits."""
    rule = RULES.get(key)
    if rule is not None:
        rule.check(key, value)


def allowed(key: str) -> str:
    """What `key` may be, for the documented reference; empty for a field without a rule."""
    rule = RULES.get(key)
    return rule.describe() if rule is not None else ""
