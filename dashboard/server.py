"""Wires a deployment (central over MQTT, or local over the outbox) and serves it with uvicorn."""

from __future__ import annotations

import logging
import socket
from typing import Any

from dashboard.app import Deployment, create_app
from dashboard.auth import Proxies
from dashboard.passwords import Password
from dashboard.retention import RetentionLoop, RetentionPolicy
from dashboard.sessions import Authenticator, FileKeeper, load_session_key
from dashboard.local import ClipStore, LocalStore
from dashboard.store import open_store
from edge.config import Config, parse_listen
from edge.errors import ConfigError

log = logging.getLogger(__name__)


class MqttControl:
    """Session start/stop as MQTT 5 commands with a reply."""

    def __init__(self, ingester: Any) -> None:
        self.ingester = ingester

    def start(self, device: str, interview_id: str) -> dict[str, Any]:
        return self.ingester.commands.request(device, "start_session", {"id": interview_id})

    def stop(self, device: str) -> dict[str, Any]:
        return self.ingester.commands.request(device, "stop_session", {})


def build(cfg: Config, local: bool) -> Deployment:
    """Check the configuration and open the store; raises InputError subclasses on bad input."""
    Password(cfg.dashboard)  # no password: refuse before opening anything
    proxies = Proxies(cfg.dashboard.trusted_proxies)
    if local:
        auth = Authenticator(cfg.dashboard, load_session_key(cfg.dashboard, FileKeeper(cfg.data_dir)))
        store = LocalStore(cfg)
        return Deployment(store=store, control=store, auth=auth, local=True, proxies=proxies,
                          clips=ClipStore(cfg.data_dir / "clips"), on_stop=[store.close])
    if not cfg.mqtt.url:
        raise ConfigError("mqtt.url: the central dashboard needs a broker; set MICROEXPR_MQTT_URL (or use --local)")
    from dashboard.ingest import Ingester

    store = open_store(cfg.dashboard.database, cfg.data_dir)
    auth = Authenticator(cfg.dashboard, load_session_key(cfg.dashboard, store))
    _, port = parse_listen(cfg.dashboard.listen)
    client_id = f"microexpr-dashboard-{socket.gethostname().split('.')[0]}-{port}"
    ingester = Ingester(cfg, store, client_id)
    retention = RetentionLoop(store, RetentionPolicy.from_config(cfg.dashboard))
    return Deployment(store=store, control=MqttControl(ingester), auth=auth, local=False, proxies=proxies,
                      stats=ingester.stats, on_start=[ingester.start, retention.start],
                      on_stop=[retention.stop, ingester.stop, store.close])


def serve(cfg: Config, local: bool) -> None:
    import uvicorn

    d = build(cfg, local)
    host, port = parse_listen(cfg.dashboard.listen)
    if host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("listening on %s, beyond loopback: put TLS in front of it", host)
    log.info("dashboard (%s) on http://%s:%d/ ; access is logged", "local" if local else "fleet", host, port)
    config = uvicorn.Config(create_app(d), host=host, port=port, log_config=None, access_log=False,
                            timeout_graceful_shutdown=3, proxy_headers=False)
    uvicorn.Server(config).run()
