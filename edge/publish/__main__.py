"""`python -m edge.publish`: deliver the configured outbox to the broker until stopped.

For units or hosts where the pipeline runs without a broker (``microexpr
replay`` only buffers when ``mqtt.url`` is empty): this drains the buffer later,
and keeps the unit's status, session, health and commands on the broker while
it runs. SIGTERM/SIGINT shut down cleanly (``offline`` published). With
``--drain`` it exits 0 once everything deliverable is acknowledged, 1 on timeout.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from edge.config import Config, load_config
from edge.errors import ConfigError, InputError
from edge.events.outbox import Outbox, open_outbox
from edge.publish.service import PublisherService

log = logging.getLogger("edge.publish")


def serve(cfg: Config, outbox: Outbox, stop: threading.Event, drain_timeout: float | None = None) -> int:
    """Run the publisher until `stop` is set (or, when draining, until the outbox is delivered)."""
    if not cfg.mqtt.url:
        raise ConfigError("mqtt.url: no broker configured (set it or $MICROEXPR_MQTT_URL)")
    svc = PublisherService(cfg, outbox)
    svc.start()
    try:
        if drain_timeout is not None:
            ok = svc.flush(drain_timeout)
            st = outbox.stats()
            log.info("drain %s: %s undelivered (%s refused)", "done" if ok else "timed out", st.depth, st.refused)
            return 0 if ok else 1
        stop.wait()
        return 0
    finally:
        svc.stop(timeout=5.0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m edge.publish", description=__doc__.splitlines()[0])
    p.add_argument("--config", help="TOML configuration file (default $MICROEXPR_CONFIG)")
    p.add_argument("--drain", type=float, metavar="SECONDS", help="exit once delivered, or after SECONDS")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        cfg = load_config(args.config)
        outbox = open_outbox(cfg)
        try:
            return serve(cfg, outbox, stop, args.drain)
        finally:
            outbox.close()
    except InputError as e:
        print(f"python -m edge.publish: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
