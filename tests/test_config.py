"""edge/config.py: strict keys and types, environment overrides, secrets from files."""

from __future__ import annotations

import pytest

from edge.config import load_config, parse_mqtt_url
from edge.errors import ConfigError


def write(tmp_path, text: str):
    p = tmp_path / "unit.toml"
    p.write_text(text)
    return p


def test_unknown_key_is_rejected_by_name(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown key 'mqtt\.keepalive'"):
        load_config(write(tmp_path, "[mqtt]\nkeepalive = 3\n"), environ={})
    with pytest.raises(ConfigError, match=r"unknown key 'mqtt\.brokr'"):
        load_config(overrides={"mqtt.brokr": "x"}, environ={})
    with pytest.raises(ConfigError, match="top-level key 'url'"):
        load_config(write(tmp_path, 'url = "mqtt://x"\n'), environ={})


def test_wrong_type_names_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"mqtt\.keepalive_s: expected an integer, got 'soon'"):
        load_config(write(tmp_path, '[mqtt]\nkeepalive_s = "soon"\n'), environ={})
    with pytest.raises(ConfigError, match=r"mqtt\.homeassistant: expected true or false"):
        load_config(write(tmp_path, "[mqtt]\nhomeassistant = 2\n"), environ={})
    with pytest.raises(ConfigError, match=r"mqtt\.max_inflight: must be between 1 and 65535, got 0"):
        load_config(write(tmp_path, "[mqtt]\nmax_inflight = 0\n"), environ={})
    with pytest.raises(ConfigError, match=r"mqtt\.reconnect_min_s"):
        load_config(write(tmp_path, "[mqtt]\nreconnect_min_s = 60.0\nreconnect_max_s = 30.0\n"), environ={})


def test_environment_overrides_file_and_flags_override_environment(tmp_path):
    conf = write(tmp_path, '[device]\nid = "from-file"\n[mqtt]\nurl = "mqtt://file-host"\nkeepalive_s = 9\n')
    env = {"MICROEXPR_MQTT_URL": "mqtts://dev:s3cret@broker.example:8884", "MICROEXPR_DEVICE_ID": "room-12",
           "MICROEXPR_DATA_DIR": str(tmp_path / "state")}
    cfg = load_config(conf, environ=env)
    assert cfg.device_id == "room-12" and cfg.mqtt.url == env["MICROEXPR_MQTT_URL"]
    assert cfg.data_dir == tmp_path / "state" and cfg.mqtt.keepalive_s == 9
    assert cfg.mqtt_client_id == "microexpr-room-12"
    u = parse_mqtt_url(cfg.mqtt.url)
    assert (u.tls, u.host, u.port, u.username, u.password) == (True, "broker.example", 8884, "dev", "s3cret")
    cfg = load_config(conf, overrides={"device.id": "flag-id"}, environ={**env, "MICROEXPR_CONFIG": "/nonexistent"})
    assert cfg.device_id == "flag-id"
    assert load_config(environ={"MICROEXPR_CONFIG": str(conf)}).device_id == "from-file"
    with pytest.raises(ConfigError, match="mqtt.url: scheme must be"):
        load_config(environ={"MICROEXPR_MQTT_URL": "http://broker"})
    with pytest.raises(ConfigError, match=r"device\.id: must not contain"):
        load_config(environ={"MICROEXPR_DEVICE_ID": "room/12"})
    assert parse_mqtt_url("mqtt://h").port == 1883


@pytest.mark.parametrize("url", ["http://dev:s3cret@broker", "mqtt://dev:s3cret@", "mqtt://dev:s3cret@broker:port"])
def test_a_bad_broker_url_is_named_without_its_password(url):
    with pytest.raises(ConfigError, match=r"^mqtt\.url: ") as e:
        load_config(environ={"MICROEXPR_MQTT_URL": url})
    assert "s3cret" not in str(e.value) and "dev:***@" in str(e.value)


def test_password_file_and_credentials_directory(tmp_path):
    secret = tmp_path / "pw"
    secret.write_text("from-file\n")
    cfg = load_config(write(tmp_path, f'[mqtt]\npassword_file = "{secret}"\n'), environ={})
    assert cfg.mqtt.password == "from-file"
    with pytest.raises(ConfigError, match=r"mqtt\.password_file: file .*missing.* not found"):
        load_config(overrides={"mqtt.password_file": str(tmp_path / "missing")}, environ={})
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "mqtt_password").write_text("from-systemd\n")
    cfg = load_config(environ={"CREDENTIALS_DIRECTORY": str(creds)})
    assert cfg.mqtt.password == "from-systemd"


def test_gil_switch_interval_range(tmp_path):
    assert load_config(environ={}).vision.gil_switch_ms == 0.5
    with pytest.raises(ConfigError, match=r"vision\.gil_switch_ms: must be between 0 and 100, got -1"):
        load_config(write(tmp_path, "[vision]\ngil_switch_ms = -1.0\n"), environ={})


# Each of these loaded at f2b78b9; each must now fail with one line naming the key and its allowed values.
BAD_VALUES = [
    ("source", "width", -5, "between 64 and 8192"),
    ("source", "width", 0, "between 64 and 8192"),
    ("source", "height", -1, "between 64 and 8192"),
    ("source", "camera_index", -1, "between 0 and 63"),
    ("source", "exposure_us", -100, "between 0 and 1000000"),
    ("source", "analogue_gain", -2.0, "between 1 and 64"),
    ("source", "analogue_gain", 0.0, "between 1 and 64"),
    ("source", "stream", "raw", "lores or main"),
    ("vision", "threads", -4, "between 0 and 64"),
    ("vision", "detect_threshold", 1.5, "between 0.01 and 0.99"),
    ("vision", "presence_threshold", -0.1, "between 0.01 and 0.99"),
    ("vision", "emotion_every", 100000, "between 1 and 1000"),
    ("spotting", "threshold", 0.0, "between 1 and 20"),
    ("spotting", "baseline_s", -3.0, "between 0.5 and 600"),
    ("outbox", "max_age_days", -1.0, "more than 0 and at most 3650"),
    ("outbox", "max_age_days", 0.0, "more than 0 and at most 3650"),
    ("outbox", "max_mb", float("inf"), "more than 0 and at most 1000000"),
    ("mqtt", "health_interval_s", 0.0, "between 0.1 and 3600"),
    ("mqtt", "keepalive_s", 70000, "between 1 and 65535"),
    ("mqtt", "session_expiry_s", 2**33, "between 1 and 4294967295"),
    ("mqtt", "max_inflight", 100000, "between 1 and 65535"),
    ("clips", "pre_ms", -10.0, "between 0 and 10000"),
    ("clips", "max_mb", -1.0, "more than 0 and at most 1000000"),
    ("clips", "max_age_days", 0.0, "more than 0 and at most 3650"),
    ("gpio", "recording_led_pin", 99, "between 0 and 27"),
    ("gpio", "button_pin", -1, "between 0 and 27"),
]


def _toml(v) -> str:
    if isinstance(v, str):
        return f'"{v}"'
    if v == float("inf"):
        return "inf"
    return repr(v)


@pytest.mark.parametrize("section, key, value, allowed", BAD_VALUES, ids=[f"{s}.{k}={v}" for s, k, v, _ in BAD_VALUES])
def test_a_value_out_of_range_is_one_line_naming_the_key_and_range(tmp_path, section, key, value, allowed):
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, f"[{section}]\n{key} = {_toml(value)}\n"), environ={})
    msg = str(e.value)
    assert msg.startswith(f"{section}.{key}: must be ") and allowed in msg and "\n" not in msg, msg
    # The same from a flag or the environment (strings there) gives the same line.
    with pytest.raises(ConfigError) as e2:
        load_config(overrides={f"{section}.{key}": str(value) if not isinstance(value, str) else value}, environ={})
    assert str(e2.value).split(", got")[0] == msg.split(", got")[0]


def test_every_field_has_a_rule_and_every_default_keeps_it():
    import dataclasses

    from edge.config import Config
    from edge.config_rules import RULES

    defaults = Config()
    for sf in dataclasses.fields(Config):
        for f in dataclasses.fields(sf.default_factory):
            dotted = f"{sf.name}.{f.name}"
            assert dotted in RULES, f"{dotted} has no rule in edge/config_rules.py"
            RULES[dotted].check(dotted, getattr(getattr(defaults, sf.name), f.name))


def test_retention_cannot_be_configured_to_erase_everything(tmp_path):
    bad = write(tmp_path, "[outbox]\nmax_age_days = -1\n")
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "edge", "--config", str(bad), "outbox", "show"],
                       capture_output=True, text=True, timeout=120,
                       env={"PATH": "/usr/bin:/bin", "MICROEXPR_DATA_DIR": str(tmp_path / "data")})
    assert r.returncode == 2, r.stderr
    assert r.stderr.splitlines() == ["microexpr outbox: outbox.max_age_days: must be more than 0 and at most 3650, "
                                     "got -1.0"]


def test_spotting_ranges_are_the_live_commands_ranges():
    from edge.config_rules import RULES
    from edge.publish.commands import THRESHOLD_RANGES

    for key, (lo, hi) in THRESHOLD_RANGES.items():
        rule = RULES[f"spotting.{key}"]
        assert (rule.lo, rule.hi) == (lo, hi), key
