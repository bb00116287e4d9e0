"""MQTT 5 ingest: fleet status, health, sessions and events into the store.

Events and health arrive through a shared subscription (``$share/<group>/...``)
so several dashboard instances split a large fleet. Status and session are
retained state: MQTT 5 brokers need not send retained messages to shared
subscriptions, and every instance must know every device's state at start, so
those two use plain subscriptions (the upserts are idempotent).

Messages are acknowledged (manual PUBACK) only after the batch holding them is
committed, so a crash re-delivers rather than loses; ids make redelivery harmless.
Bad payloads are counted, logged (throttled) and dropped; nothing here raises
into paho's network thread.
"""

from __future__ import annotations

import logging
import queue
import ssl
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from dashboard.commands import Commander
from dashboard.payloads import Message, PayloadError, Validator
from dashboard.records import utc_now
from dashboard.store import Store
from edge.config import Config, parse_mqtt_url

log = logging.getLogger(__name__)

BATCH = 500


@dataclass
class Delivery:
    """A validated message waiting for the writer, with what is needed to ack it."""

    mid: int
    qos: int
    retained: bool
    message: Message
    received_utc: str


class LogThrottle:
    """At most ``burst`` warnings per ``window_s``; the rest are counted and summarised."""

    def __init__(self, burst: int = 20, window_s: float = 60.0) -> None:
        self.burst, self.window_s = burst, window_s
        self._start, self._count, self._suppressed = 0.0, 0, 0

    def allow(self) -> bool:
        now = time.monotonic()
        if now - self._start > self.window_s:
            if self._suppressed:
                log.warning("%d more malformed payloads not logged in the last %.0f s", self._suppressed, self.window_s)
            self._start, self._count, self._suppressed = now, 0, 0
        self._count += 1
        if self._count <= self.burst:
            return True
        self._suppressed += 1
        return False


class Ingester:
    """One MQTT connection feeding one store; also carries the session commands."""

    def __init__(self, cfg: Config, store: Store, client_id: str) -> None:
        self.cfg = cfg
        self.store = store
        self.prefix = cfg.mqtt.prefix
        self.group = cfg.dashboard.share_group
        self.validator = Validator(self.prefix)
        self._queue: queue.Queue[Delivery] = queue.Queue()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._reasons: Counter[str] = Counter()
        self._throttle = LogThrottle()
        self.connected = False
        self.client = self._make_client(client_id)
        self.commands = Commander(self.client, self.prefix, client_id)
        self._writer = threading.Thread(target=self._write_loop, name="dashboard-ingest-writer", daemon=True)

    def _make_client(self, client_id: str) -> mqtt.Client:
        url = parse_mqtt_url(self.cfg.mqtt.url)
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5, manual_ack=True)
        user = self.cfg.mqtt.username or url.username
        if user:
            c.username_pw_set(user, self.cfg.mqtt.password or url.password or None)
        if url.tls:
            c.tls_set(
                ca_certs=self.cfg.mqtt.ca_file or None,
                certfile=self.cfg.mqtt.cert_file or None,
                keyfile=self.cfg.mqtt.key_file or None,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        c.reconnect_delay_set(1, 30)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        self._url = url
        return c

    # -- lifecycle --------------------------------------------------------
    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.cfg.mqtt.session_expiry_s
        self._writer.start()
        self.client.connect_async(
            self._url.host, self._url.port, keepalive=self.cfg.mqtt.keepalive_s,
            clean_start=False, properties=props,
        )
        self.client.loop_start()
        log.info("ingesting %s/+/{status,health,session,events} from %s:%s", self.prefix, self._url.host, self._url.port)

    def stop(self) -> None:
        self._stop.set()
        self._writer.join(timeout=10)
        self.client.disconnect()
        self.client.loop_stop()

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {"connected": self.connected, **self._counts, "malformed_reasons": dict(self._reasons),
                    "queued": self._queue.qsize()}

    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._counts[key] += n

    # -- paho callbacks (network thread) ---------------------------------
    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            log.warning("broker refused the connection: %s", reason)
            return
        self.connected = True
        p, g = self.prefix, self.group
        client.subscribe([
            (f"$share/{g}/{p}/+/events", 1),
            (f"$share/{g}/{p}/+/health", 0),
            (f"{p}/+/status", 1),
            (f"{p}/+/session", 1),
            (self.commands.subscription, 1),
        ])
        log.info("connected to the broker (session present: %s)", flags.session_present)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self.connected = False
        if not self._stop.is_set():
            log.warning("disconnected from the broker (%s); reconnecting", reason)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            if self.commands.is_reply(msg.topic):
                self.commands.on_reply(msg)
                self._ack(msg.mid, msg.qos)
                return
            self._count("received")
            try:
                m = self.validator.check(msg.topic, msg.payload)
            except PayloadError as e:
                self._reject(msg, str(e))
                return
            self._queue.put(Delivery(msg.mid, msg.qos, bool(msg.retain), m, utc_now()))
        except Exception:  # never let one message kill the network loop
            log.exception("internal error handling a message on %s", msg.topic)
            self._reject(msg, "internal error")

    def _reject(self, msg: mqtt.MQTTMessage, reason: str) -> None:
        with self._lock:
            self._counts["malformed"] += 1
            self._reasons[reason.split(":")[0]] += 1
            loud = self._throttle.allow()
        if loud:
            log.warning("rejected payload on %s (%d bytes): %s", msg.topic, len(msg.payload), reason)
        self._ack(msg.mid, msg.qos)

    def _ack(self, mid: int, qos: int) -> None:
        if qos > 0:
            self.client.ack(mid, qos)

    # -- writer thread ----------------------------------------------------
    def _write_loop(self) -> None:
        while not self._stop.is_set() or not self._queue.empty():
            try:
                first = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            batch = [first]
            while len(batch) < BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            while True:
                try:
                    self._apply(batch)
                    break
                except Exception:
                    log.exception("store write failed; retrying %d messages", len(batch))
                    if self._stop.wait(1.0):
                        return
            for d in batch:
                self._ack(d.mid, d.qos)

    def _apply(self, batch: list[Delivery]) -> None:
        events = []
        for d in batch:
            m = d.message
            if m.kind == "events":
                events.append(m.payload)
            elif m.kind == "status":
                self.store.set_status(m.device, m.payload, d.received_utc, live=not d.retained)
            elif m.kind == "health":
                self.store.set_health(m.device, m.payload, d.received_utc)
            else:
                self.store.set_session(m.device, m.payload, d.received_utc, live=not d.retained)
        if events:
            new = self.store.add_events(events, batch[-1].received_utc)
            self._count("stored", new)
            self._count("duplicates", len(events) - new)
        self._count("applied", len(batch))
