"""The health payload: a snapshot the device loop keeps current, plus what the OS says.

The device loop updates a `HealthSnapshot` (counters, latencies, camera state);
`build_health` adds temperature, throttling, memory, disk and outbox figures at
publish time. Readings that this machine cannot give are null, never invented.
"""

from __future__ import annotations

import platform
import resource
import shutil
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from edge import __version__
from edge.events.outbox import OutboxStats

CAMERA_STATES = ("ok", "lost", "retrying", "replay", "off")
THERMAL = Path("/sys/class/thermal/thermal_zone0/temp")
# Raspberry Pi firmware's throttled bit mask, where the kernel exposes it (no vcgencmd needed).
THROTTLED = (
    Path("/sys/devices/platform/soc/soc:firmware/get_throttled"),
    Path("/sys/devices/platform/soc@107c000000/soc@107c000000:firmware/get_throttled"),
)


class LatencyWindow:
    """Recent per-stage latencies in ms; p50/p99 over the last `size` samples."""

    def __init__(self, size: int = 512) -> None:
        self._size = size
        self._stages: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def add(self, timings_ms: dict[str, float]) -> None:
        with self._lock:
            for stage, ms in timings_ms.items():
                self._stages.setdefault(stage, deque(maxlen=self._size)).append(float(ms))

    def summary(self) -> dict[str, dict[str, float]]:
        with self._lock:
            stages = {k: sorted(v) for k, v in self._stages.items() if v}
        return {k: {"p50": round(_pct(v, 0.50), 3), "p99": round(_pct(v, 0.99), 3)} for k, v in stages.items()}


def _pct(sorted_values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    pos = q * (len(sorted_values) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


@dataclass
class HealthSnapshot:
    """What the device loop knows; it assigns these fields as it runs."""

    fps_in: float = 0.0
    fps_processed: float = 0.0
    frames_in: int = 0
    frames_processed: int = 0
    frames_dropped: int = 0
    camera: str = "off"
    latency: LatencyWindow = field(default_factory=LatencyWindow)
    models: str = ""
    runtime: str = ""
    started: float = field(default_factory=time.monotonic)
    writer_backlog: int = 0  # events handed to the outbox writer thread, not committed yet


def cpu_temp_c(path: Path = THERMAL) -> float | None:
    try:
        return round(int(path.read_text().strip()) / 1000.0, 1)
    except (OSError, ValueError):
        return None


def throttled(paths: tuple[Path, ...] = THROTTLED) -> int | None:
    """The firmware's get_throttled mask (0 = never throttled), or None where unreadable."""
    for p in paths:
        try:
            return int(p.read_text().strip(), 16)
        except (OSError, ValueError):
            continue
    return None


def mem_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024.0, 1)
    except (OSError, ValueError, IndexError):
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


def disk_free_mb(path: Path) -> float | None:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        return round(shutil.disk_usage(p).free / 2**20, 1)
    except OSError:
        return None


def build_health(
    device: str,
    snapshot: HealthSnapshot,
    outbox: OutboxStats,
    data_dir: Path,
    site: str = "",
    room: str = "",
) -> dict[str, Any]:
    """One health payload (schema edge/publish/schemas/health.json)."""
    now = datetime.now(UTC)
    return {
        "schema": 1,
        "device": device,
        "site": site,
        "room": room,
        "ts": now.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "uptime_s": round(time.monotonic() - snapshot.started, 1),
        "fps_in": round(float(snapshot.fps_in), 2),
        "fps_processed": round(float(snapshot.fps_processed), 2),
        "frames_in": int(snapshot.frames_in),
        "frames_processed": int(snapshot.frames_processed),
        "frames_dropped": int(snapshot.frames_dropped),
        "latency_ms": snapshot.latency.summary(),
        "cpu_temp_c": cpu_temp_c(),
        "throttled": throttled(),
        "mem_rss_mb": mem_rss_mb(),
        "disk_free_mb": disk_free_mb(data_dir),
        "outbox": {
            "depth": outbox.depth,
            "oldest_undelivered_age_s": outbox.oldest_undelivered_age_s,
            "evicted_delivered": outbox.evicted_delivered,
            "evicted_undelivered": outbox.evicted_undelivered,
            "expired_undelivered": outbox.expired_undelivered,
            "refused": outbox.refused,
            "size_bytes": outbox.size_bytes,
            "writer_backlog": int(snapshot.writer_backlog),
        },
        "camera": snapshot.camera if snapshot.camera in CAMERA_STATES else "off",
        "versions": {
            "software": __version__,
            "models": snapshot.models,
            "runtime": snapshot.runtime or f"python {platform.python_version()}",
        },
    }
