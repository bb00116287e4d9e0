"""Deliver the outbox to the broker: the unit's MQTT 5 connection and delivery loop.

`PublisherService` owns two threads. The network thread connects (clean start
off, Session Expiry Interval set, Last Will ``offline``), reconnects with
jittered exponential backoff and logs why a connection fails. The delivery
thread publishes ``outbox.pending()`` in order at QoS 1 with at most
``mqtt.max_inflight`` unacknowledged, and marks an event delivered only on a
PUBACK with a success reason code. paho keeps unacknowledged messages in memory
only, so the outbox is the record: after a restart everything not acknowledged
is sent again (consumers de-duplicate on the event id).

A PUBACK with a failure reason code (>= 0x80, e.g. 0x87 Not authorized) marks
the event *refused*: it stays in the outbox, counted and reported in health as
``outbox.refused``, is not retried (it would block the queue forever) until
``Outbox.requeue_refused()`` (``microexpr outbox requeue``) or the next start of
the service, and is logged once per topic and reason.
"""

from __future__ import annotations

import json
import logging
import queue
import random
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.config import Config
from edge.events.outbox import Outbox
from edge.publish.client import connect_properties, make_client, topics_for
from edge.publish.commands import CommandHandler
from edge.publish.discovery import discovery_payload
from edge.publish.health import HealthSnapshot, build_health

log = logging.getLogger(__name__)

_WAKE = (-1, 0)


def _network_thread_writes(client: mqtt.Client, userdata: Any, sock: Any) -> None:
    """Nothing to do: the network thread's select() sees the queued packet (see __init__)."""


def session_payload(session: dict[str, Any]) -> dict[str, Any]:
    return {"schema": 1, **session}


class PublisherService:
    """Outbox -> broker delivery plus status, session, health, commands and discovery."""

    def __init__(
        self,
        cfg: Config,
        outbox: Outbox,
        *,
        snapshot: HealthSnapshot | None = None,
        set_thresholds: Callable[[dict[str, float]], dict[str, Any]] | None = None,
        erase_session: Callable[[str], dict[str, Any]] | None = None,
    ) -> None:
        self.cfg = cfg
        self.outbox = outbox
        self.topics = topics_for(cfg)
        self.snapshot = snapshot or HealthSnapshot()
        self.commands = CommandHandler(outbox, set_thresholds, self._health_on_request, erase_session)
        self._client, self._addr = make_client(cfg, self.topics)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_publish = self._on_publish
        self._client.on_message = self._on_message
        # With our own network loop (not loop_start), paho's publish() writes to the socket from the
        # calling thread while the network thread may be writing too: two writers pop one packet queue,
        # and events reached the broker out of order. With this callback set, publish() only queues
        # the packet and wakes the network thread, the one writer.
        self._client.on_socket_register_write = _network_thread_writes
        self._connected = threading.Event()
        self._closing = threading.Event()  # stop sending, then disconnect
        self._net_stop = threading.Event()
        self._acks: queue.Queue[tuple[int, int]] = queue.Queue()
        self._pub_lock = threading.Lock()
        self._inflight: dict[int, tuple[int, float]] = {}  # mid -> (outbox seq, sent monotonic)
        self._inflight_seqs: set[int] = set()
        self._other: dict[int, str] = {}  # mid -> topic of a tracked non-event QoS 1 publish
        self._refusals_logged: set[tuple[str, int]] = set()
        self._published_session: Any = object()
        self._next_health = 0.0
        self._external_health: tuple[float, dict[str, Any]] | None = None
        self._threads: list[threading.Thread] = []
        self.last_error = ""
        self.delivered = 0
        self.refused = 0
        self.refused_other = 0
        self.connects = 0
        self.peak_inflight = 0

    # ---- lifecycle -----------------------------------------------------------

    def start(self) -> None:
        requeued = self.outbox.requeue_refused()
        if requeued:
            log.info("retrying %s events the broker refused before", requeued)
        for target, name in ((self._network_loop, "mqtt-network"), (self._delivery_loop, "mqtt-delivery")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def notify(self) -> None:
        """Wake the delivery loop now (after a put) instead of at its next poll."""
        self._acks.put(_WAKE)

    def flush(self, timeout: float) -> bool:
        """Wait until every deliverable event is acknowledged; False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.outbox.pending(1) and not self._inflight:
                return True
            time.sleep(0.05)
        return False

    def stop(self, timeout: float = 5.0) -> None:
        """Clean shutdown: stop sending, publish ``offline`` (retained), disconnect."""
        deadline = time.monotonic() + timeout
        self._closing.set()
        self.notify()
        delivery = [t for t in self._threads if t.name == "mqtt-delivery"]
        for t in delivery:
            t.join(max(0.1, deadline - time.monotonic()))
        if self._connected.is_set():
            try:
                info = self._client.publish(self.topics.status, b"offline", qos=1, retain=True)
                info.wait_for_publish(max(0.1, deadline - time.monotonic()))
            except (RuntimeError, ValueError) as e:
                log.warning("could not publish offline status: %s", e)
            self._net_stop.set()
            self._client.disconnect()
        self._net_stop.set()
        for t in self._threads:
            t.join(max(0.1, deadline - time.monotonic()))
        self._threads.clear()
        self._process_acks(timeout=0.0)  # PUBACKs that arrived while closing: fewer resends next start

    # ---- network thread ------------------------------------------------------

    def _network_loop(self) -> None:
        backoff = self.cfg.mqtt.reconnect_min_s
        while not self._net_stop.is_set():
            try:
                self._client.connect(self._addr.host, self._addr.port, keepalive=self.cfg.mqtt.keepalive_s,
                                     clean_start=False, properties=connect_properties(self.cfg))
            except (OSError, ssl.SSLError, ValueError) as e:
                self._note_error(f"cannot connect to {self._addr.host}:{self._addr.port}: {e}")
            else:
                self._run_connection()
            self._connected.clear()
            if self._net_stop.is_set():
                break
            if self._was_up:
                backoff = self.cfg.mqtt.reconnect_min_s
                self._was_up = False
            if self._net_stop.wait(random.uniform(0.5, 1.0) * backoff):
                break
            backoff = min(backoff * 2, self.cfg.mqtt.reconnect_max_s)
        self._connected.clear()

    def _run_connection(self) -> None:
        """Service one connection until it drops, or until stop() and its DISCONNECT went out."""
        closing_deadline = None
        connects, errors = self.connects, self._errors
        while True:
            rc = self._client.loop(timeout=0.1)
            if rc != mqtt.MQTT_ERR_SUCCESS:
                if self.connects == connects and self._errors == errors and not self._net_stop.is_set():
                    # e.g. a TLS alert after the handshake (no or unknown client certificate)
                    self._note_error(f"connection to {self._addr.host}:{self._addr.port} closed before the broker "
                                     f"accepted it ({mqtt.error_string(rc)}); check the client certificate, "
                                     "credentials and broker log")
                return
            if self._net_stop.is_set():
                closing_deadline = closing_deadline or time.monotonic() + 2.0
                if not self._client.is_connected() or time.monotonic() > closing_deadline:
                    return

    _was_up = False
    _errors = 0

    def _note_error(self, message: str) -> None:
        self._errors += 1
        if message != self.last_error:
            log.error("%s", message)
        self.last_error = message

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if reason_code.is_failure:
            self._note_error(f"broker {self._addr.host}:{self._addr.port} refused the connection: {reason_code}")
            return
        self.connects += 1
        self._was_up = True
        self.last_error = ""
        log.info("connected to %s:%s as %s (session present: %s)", self._addr.host, self._addr.port,
                 self.cfg.mqtt_client_id, flags.session_present)
        self._publish_tracked(self.topics.status, b"online", retain=True)
        # retainHandling=2: a retained command is never sent on subscribe (it would replay on every reconnect)
        client.subscribe(self.topics.commands, options=mqtt.SubscribeOptions(qos=1, retainHandling=2))
        if self.cfg.mqtt.homeassistant:
            client.subscribe(self.topics.ha_status, qos=1)
            self._announce()
        self._published_session = object()
        self._next_health = 0.0
        self._connected.set()
        self.notify()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any,
                       properties: Any) -> None:
        was = self._connected.is_set()
        self._connected.clear()
        if was and not self._closing.is_set():
            log.warning("disconnected from broker: %s; %s events in flight will be resent", reason_code,
                        len(self._inflight))

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason_code: Any, properties: Any) -> None:
        self._acks.put((mid, int(reason_code.value)))

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            if msg.topic == self.topics.ha_status:
                if msg.payload == b"online" and self.cfg.mqtt.homeassistant:
                    log.info("Home Assistant is online: announcing discovery again")
                    self._announce()
                return
            name = self.topics.command_name(msg.topic)
            if name is None:
                return
            props = getattr(msg, "properties", None)
            response_topic = getattr(props, "ResponseTopic", "") if props else ""
            correlation = getattr(props, "CorrelationData", None) if props else None
            if msg.retain:
                log.warning("ignoring retained command on %s: commands must not be retained", msg.topic)
                return
            reply = self.commands.handle(name, msg.payload)
            if not response_topic:
                log.info("command %s has no response topic; reply dropped: %s", name, reply.to_dict())
                return
            if not self.topics.is_reply(response_topic):
                log.warning("command %s asked for its reply on %.100s, outside %s/reply/<client>; reply dropped",
                            name, response_topic, self.topics.base)
                return
            reply_props = Properties(PacketTypes.PUBLISH)
            if correlation is not None:
                reply_props.CorrelationData = correlation
            self._publish_tracked(response_topic, reply.to_json(), properties=reply_props)
        except Exception:
            log.exception("command message on %s could not be handled", msg.topic)

    # ---- delivery thread -----------------------------------------------------

    def _delivery_loop(self) -> None:
        while not self._closing.is_set():
            try:
                self._process_acks(timeout=0.1)
                if self._connected.is_set():
                    self._sweep_stale()
                    self._send_pending()
                    self._publish_session()
                    if time.monotonic() >= self._next_health:
                        self._next_health = time.monotonic() + self.cfg.mqtt.health_interval_s
                        self._publish_health()
            except Exception:
                log.exception("delivery loop error; continuing")
                self._closing.wait(1.0)
        self._process_acks(timeout=0.0)

    def _process_acks(self, timeout: float) -> None:
        try:
            first = self._acks.get(timeout=timeout) if timeout > 0 else self._acks.get_nowait()
        except queue.Empty:
            return
        batch = [first]
        while True:
            try:
                batch.append(self._acks.get_nowait())
            except queue.Empty:
                break
        with self._pub_lock:
            for mid, code in batch:
                if (mid, code) == _WAKE:
                    continue
                entry = self._inflight.pop(mid, None)
                if entry is None:
                    topic = self._other.pop(mid, None)
                    if topic is not None and code >= 0x80:
                        self.refused_other += 1
                        self._log_refusal(topic, code)
                    continue
                seq = entry[0]
                self._inflight_seqs.discard(seq)
                if code < 0x80:
                    self.outbox.mark_delivered(seq)
                    self.delivered += 1
                else:
                    self.outbox.mark_refused(seq)
                    self.refused += 1
                    self._log_refusal(self.topics.events, code)

    def _log_refusal(self, topic: str, code: int) -> None:
        if (topic, code) in self._refusals_logged:
            log.debug("broker refused publish to %s (0x%02x) again", topic, code)
            return
        self._refusals_logged.add((topic, code))
        name = mqtt.ReasonCode(PacketTypes.PUBACK, identifier=code).getName()
        log.error("broker refused publish to %s: %s (0x%02x); check the broker ACL for this device's "
                  "credentials (device id %r). Events so refused stay in the outbox as refused.",
                  topic, name, code, self.cfg.device_id)

    def _sweep_stale(self) -> None:
        """Forget sends unacknowledged for too long while connected; they go out again from the outbox."""
        limit = 2.0 * self.cfg.mqtt.keepalive_s + 10.0
        now = time.monotonic()
        with self._pub_lock:
            stale = [mid for mid, (_, t) in self._inflight.items() if now - t > limit]
            for mid in stale:
                seq, _ = self._inflight.pop(mid)
                self._inflight_seqs.discard(seq)
        if stale:
            log.warning("%s events unacknowledged for %.0f s; sending them again", len(stale), limit)

    def _send_pending(self) -> None:
        room = self.cfg.mqtt.max_inflight - len(self._inflight)
        if room <= 0:
            return
        for seq, event in self.outbox.pending(len(self._inflight) + room):
            if room <= 0 or self._closing.is_set():
                break
            if seq in self._inflight_seqs:
                continue
            payload = json.dumps(event, separators=(",", ":")).encode()
            with self._pub_lock:
                info = self._client.publish(self.topics.events, payload, qos=1)
                if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
                    log.warning("publish of event seq %s not queued: %s", seq, mqtt.error_string(info.rc))
                    return
                self._inflight[info.mid] = (seq, time.monotonic())
                self._inflight_seqs.add(seq)
                self.peak_inflight = max(self.peak_inflight, len(self._inflight))
            room -= 1

    def _publish_session(self) -> None:
        session = self.outbox.latest_session()
        if session is None or session == self._published_session:
            return
        self._publish_tracked(self.topics.session, json.dumps(session_payload(session)).encode(), retain=True)
        self._published_session = session

    # ---- publishing helpers --------------------------------------------------

    def publish_json(self, topic: str, payload: Any, qos: int = 1, retain: bool = False) -> mqtt.MQTTMessageInfo:
        """Publish one JSON document now (not through the outbox); refusals are counted and logged."""
        data = payload if isinstance(payload, bytes) else json.dumps(payload, separators=(",", ":")).encode()
        return self._publish_tracked(topic, data, qos=qos, retain=retain)

    def _publish_tracked(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False,
                         properties: Properties | None = None) -> mqtt.MQTTMessageInfo:
        with self._pub_lock:
            info = self._client.publish(topic, payload, qos=qos, retain=retain, properties=properties)
            if qos > 0 and info.rc in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
                self._other[info.mid] = topic
                if len(self._other) > 10_000:  # acks that never came (e.g. lost with a connection)
                    self._other.pop(next(iter(self._other)))
        return info

    def health_payload(self) -> dict[str, Any]:
        """A fresh health report: the device loop's last one if it publishes its own, else from `snapshot`."""
        external = self._external_health
        if external is not None and time.monotonic() - external[0] < 2.5 * self.cfg.mqtt.health_interval_s:
            payload = dict(external[1])
        else:
            payload = build_health(self.cfg.device_id, self.snapshot, self.outbox.stats(), self.cfg.data_dir,
                                   self.cfg.device.site, self.cfg.device.room)
        payload["mqtt"] = {"delivered": self.delivered, "refused": self.refused + self.refused_other,
                           "inflight": len(self._inflight), "connects": self.connects}
        return payload

    def publish_health(self, payload: dict[str, Any]) -> None:
        """Publish a health report the device loop built; the service's own periodic report then pauses."""
        self._external_health = (time.monotonic(), dict(payload))
        self._next_health = time.monotonic() + 2.0 * self.cfg.mqtt.health_interval_s
        if self._connected.is_set():
            self._send_health(self.health_payload())

    def _send_health(self, payload: dict[str, Any]) -> None:
        self._client.publish(self.topics.health, json.dumps(payload, separators=(",", ":")).encode(), qos=0)

    def _publish_health(self) -> dict[str, Any]:
        payload = self.health_payload()
        self._send_health(payload)
        return payload

    def _health_on_request(self) -> dict[str, Any]:
        return self._publish_health()

    def _announce(self) -> None:
        topic, doc = discovery_payload(self.cfg, self.topics)
        self._publish_tracked(topic, json.dumps(doc, separators=(",", ":")).encode(), retain=True)
