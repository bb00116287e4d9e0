"""Session commands to a device: MQTT 5 request/response on ``<prefix>/<device>/cmd/<name>``.

The request carries a ResponseTopic and CorrelationData; the device replies on
that topic with the same correlation data. The ResponseTopic lies under the
asked device's own tree (``<prefix>/<device>/reply/<client id>``): the broker ACL
lets a unit write only there (docs/mqtt.md), and a reply is taken only from the
device that was asked. Callers block (in a worker thread) until the reply or a
timeout.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.errors import InputError

log = logging.getLogger(__name__)

COMMANDS = ("start_session", "stop_session")


class CommandError(InputError):
    """The device refused the command, did not answer, or the request was bad."""


def reply_level(client_id: str) -> str:
    """The client id as one topic level (no ``/``, ``+``, ``#``)."""
    return "".join("_" if c in "/+#" else c for c in client_id) or "dashboard"


class Commander:
    """Tracks outstanding requests by correlation data and the device asked."""

    def __init__(self, client: mqtt.Client, prefix: str, client_id: str) -> None:
        self.client = client
        self.prefix = prefix
        self.level = reply_level(client_id)
        self._lock = threading.Lock()
        self._pending: dict[bytes, tuple[str, threading.Event, list[Any]]] = {}

    @property
    def subscription(self) -> str:
        """Every device's replies to this instance."""
        return f"{self.prefix}/+/reply/{self.level}"

    def reply_topic(self, device: str) -> str:
        return f"{self.prefix}/{device}/reply/{self.level}"

    def is_reply(self, topic: str) -> bool:
        return mqtt.topic_matches_sub(self.subscription, topic)

    def request(self, device: str, name: str, body: dict[str, Any], timeout_s: float = 5.0) -> dict[str, Any]:
        """Send one command and return the device's reply (a JSON object)."""
        if name not in COMMANDS:
            raise CommandError(f"unknown command {name!r}")
        if not device or any(c in device for c in "/+#"):
            raise CommandError(f"bad device id {device!r}")
        corr = uuid.uuid4().bytes
        done = threading.Event()
        slot: list[Any] = []
        with self._lock:
            self._pending[corr] = (device, done, slot)
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = self.reply_topic(device)
        props.CorrelationData = corr
        try:
            info = self.client.publish(f"{self.prefix}/{device}/cmd/{name}", json.dumps(body), qos=1, properties=props)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                raise CommandError(f"{name} to {device}: not connected to the broker")
            if not done.wait(timeout_s):
                raise CommandError(f"{name} to {device}: no reply within {timeout_s:.0f} s (device offline?)")
        finally:
            with self._lock:
                self._pending.pop(corr, None)
        reply = slot[0]
        if not isinstance(reply, dict):
            raise CommandError(f"{name} to {device}: reply is not a JSON object")
        if reply.get("ok") is False or ("error" in reply and reply.get("ok") is not True):
            raise CommandError(f"{name} to {device}: {reply.get('error') or 'refused'}")
        return reply

    def on_reply(self, msg: mqtt.MQTTMessage) -> None:
        corr = getattr(msg.properties, "CorrelationData", None) if msg.properties else None
        with self._lock:
            waiting = self._pending.get(bytes(corr)) if corr else None
        if waiting is None:
            log.info("ignoring a reply with unknown correlation data on %s", msg.topic)
            return
        device, done, slot = waiting
        if msg.topic != self.reply_topic(device):
            log.warning("ignoring a reply on %s: the request went to %s", msg.topic, device)
            return
        try:
            reply: Any = json.loads(msg.payload)
        except ValueError:
            reply = None
        slot.append(reply)
        done.set()
