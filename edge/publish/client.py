"""Build the paho-mqtt 2.x client of one unit: MQTT 5, persistent session, TLS, Last Will."""

from __future__ import annotations

import ssl
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.config import Config, parse_mqtt_url
from edge.errors import ConfigError
from edge.publish.topics import Topics


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool


def topics_for(cfg: Config) -> Topics:
    return Topics(cfg.mqtt.prefix, cfg.device_id, cfg.mqtt.discovery_prefix)


def connect_properties(cfg: Config) -> Properties:
    """CONNECT properties: a non-zero Session Expiry Interval keeps the session across disconnects."""
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = int(cfg.mqtt.session_expiry_s)
    return props


def make_client(cfg: Config, topics: Topics) -> tuple[mqtt.Client, BrokerAddress]:
    """A configured, unconnected client; ConfigError names a bad TLS or credential setting."""
    url = parse_mqtt_url(cfg.mqtt.url)
    client = mqtt.Client(
        callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
        client_id=cfg.mqtt_client_id,
        protocol=mqtt.MQTTv5,
        reconnect_on_failure=False,  # the publisher runs its own connect loop with backoff and clear logs
    )
    username = cfg.mqtt.username or url.username
    password = cfg.mqtt.password or url.password
    if username:
        client.username_pw_set(username, password or None)
    if url.tls or cfg.mqtt.ca_file or cfg.mqtt.cert_file:
        if not url.tls:
            raise ConfigError("mqtt.url: TLS files are set but the URL is mqtt://; use mqtts://")
        if bool(cfg.mqtt.cert_file) != bool(cfg.mqtt.key_file):
            raise ConfigError("mqtt.cert_file and mqtt.key_file: give both for a client certificate")
        try:
            client.tls_set(
                ca_certs=cfg.mqtt.ca_file or None,
                certfile=cfg.mqtt.cert_file or None,
                keyfile=cfg.mqtt.key_file or None,
                cert_reqs=ssl.CERT_REQUIRED,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        except (OSError, ssl.SSLError) as e:
            key = "mqtt.ca_file" if "ca" in str(e).lower() or not cfg.mqtt.cert_file else "mqtt.cert_file"
            raise ConfigError(f"{key}: cannot load TLS files ({e})") from None
    client.max_inflight_messages_set(cfg.mqtt.max_inflight)
    client.max_queued_messages_set(0)
    client.will_set(topics.status, b"offline", qos=1, retain=True)
    return client, BrokerAddress(url.host, url.port, url.tls)
