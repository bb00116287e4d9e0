"""sd_notify over $NOTIFY_SOCKET with a plain datagram socket (no libsystemd dependency).

systemd's Type=notify and WatchdogSec= need READY=1, WATCHDOG=1, STOPPING=1 and
STATUS= lines; the protocol is one datagram of newline-separated assignments.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


class SystemdNotifier:
    """Sends notifications when run under systemd; a silent no-op otherwise."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        path = env.get("NOTIFY_SOCKET", "")
        self._address: str | None = None
        if path.startswith("@"):
            self._address = "\0" + path[1:]  # abstract namespace
        elif path.startswith("/"):
            self._address = path
        elif path:
            log.warning("NOTIFY_SOCKET=%s is neither a path nor an abstract socket; not notifying", path)
        self._sock: socket.socket | None = None
        if self._address:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self.watchdog_interval_s = _watchdog_interval(env)

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def send(self, *assignments: str) -> bool:
        """Send one datagram; False (logged at debug) when nobody listens."""
        if self._sock is None or self._address is None:
            return False
        try:
            # Never block the processing loop on a full socket queue.
            self._sock.sendto("\n".join(assignments).encode("utf-8"), socket.MSG_DONTWAIT, self._address)
            return True
        except OSError as e:
            log.debug("sd_notify %s failed: %s", assignments, e)
            return False

    def ready(self, status: str = "") -> bool:
        return self.send("READY=1", *([f"STATUS={status}"] if status else []))

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def stopping(self, status: str = "") -> bool:
        return self.send("STOPPING=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> bool:
        return self.send(f"STATUS={text.replace(chr(10), ' ')}")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _watchdog_interval(env: Mapping[str, str]) -> float | None:
    """WatchdogSec as seconds when it is meant for this process (sd_watchdog_enabled)."""
    usec = env.get("WATCHDOG_USEC", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    pid = env.get("WATCHDOG_PID", "")
    if pid and pid.isdigit() and int(pid) != os.getpid():
        return None
    return int(usec) / 1e6
