"""A device process for the kill tests: produces events into the outbox and publishes them.

Runs the same code path as ``python -m edge.publish`` (`serve`) with a producer
thread standing in for the spotter. Configuration comes from the environment
($MICROEXPR_CONFIG, $MICROEXPR_MQTT_URL, $MICROEXPR_DEVICE_ID, $MICROEXPR_DATA_DIR).
Usage: device_proc.py EVENTS_PER_SECOND
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from edge.config import load_config
from edge.events.outbox import open_outbox, utc_now_iso
from edge.events.record import Event
from edge.publish.__main__ import serve


def make_event(n: int) -> Event:
    now = utc_now_iso()
    return Event(onset_frame=n, apex_frame=n + 2, offset_frame=n + 6, onset_utc=now, apex_utc=now, offset_utc=now,
                 duration_ms=50.0, type="micro", emotion="surprise", confidence=0.7,
                 scores={"surprise": 0.7, "fear": 0.3}, aus={"AU1": 0.5, "AU2": 0.4},
                 head_pose={"yaw": 0.0, "pitch": 0.0, "roll": 0.0}, versions={"software": "test"},
                 id=str(uuid.uuid4()), video="camera")


def main() -> int:
    rate = float(sys.argv[1])
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    cfg = load_config()
    outbox = open_outbox(cfg)

    def produce() -> None:
        n = 0
        while not stop.wait(1.0 / rate):
            outbox.put(make_event(n))
            n += 1

    threading.Thread(target=produce, daemon=True).start()
    return serve(cfg, outbox, stop)


if __name__ == "__main__":
    sys.exit(main())
