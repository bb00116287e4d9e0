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
    with pytest.raises(ConfigError, match=r"mqtt\.max_inflight: must be at least 1"):
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
