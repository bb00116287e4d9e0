"""Benchmark of the events page's filtered query on a store.

    python -m dashboard.bench --database postgresql://... --events 100000

Fills the store with synthetic events (up to --events, from --devices devices)
if it holds fewer, then times the query the events page sends (one filter set:
emotion + type + minimum confidence + a time range, newest 200, plus the count)
and prints the median and 95th percentile in milliseconds.
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dashboard.records import EventQuery, format_utc
from dashboard.store import open_store
from edge.events.record import EMOTIONS

START = datetime(2026, 1, 1, tzinfo=UTC)
SPACING_S = 60


def synthetic(n: int, devices: int, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        onset = START + timedelta(seconds=i * SPACING_S + rng.random())
        dur = rng.uniform(60, 3000)
        emotion = rng.choice(EMOTIONS)
        device = f"room-{i % devices:03d}"
        out.append({
            "schema": 1, "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "device": device,
            "session": f"{device}-s{i // 500}", "video": "camera",
            "onset_frame": i, "apex_frame": i + 3, "offset_frame": i + 9,
            "onset_utc": format_utc(onset), "apex_utc": format_utc(onset + timedelta(milliseconds=dur / 3)),
            "offset_utc": format_utc(onset + timedelta(milliseconds=dur)), "duration_ms": round(dur, 1),
            "type": "micro" if dur <= 500 else "macro", "emotion": emotion, "confidence": round(rng.random(), 3),
            "scores": {emotion: 1.0}, "aus": {"AU4": 0.5}, "head_pose": {"yaw": 0.0, "pitch": 0.0, "roll": 0.0},
            "versions": {"software": "bench"},
        })
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m dashboard.bench", description=__doc__.splitlines()[0])
    ap.add_argument("--database", default="", help="store URL (default: a SQLite file in the current folder)")
    ap.add_argument("--events", type=int, default=100_000, help="events the store should hold")
    ap.add_argument("--devices", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=50, help="timed queries")
    args = ap.parse_args(argv)
    store = open_store(args.database or "sqlite:///" + str(Path("dashboard-bench.sqlite3").resolve()), Path("."))
    have = store.count_events()
    if have < args.events:
        t = time.perf_counter()
        batch = synthetic(args.events, args.devices)[have:]
        for i in range(0, len(batch), 2000):
            store.add_events(batch[i:i + 2000], format_utc(datetime.now(UTC)))
        print(f"inserted {len(batch)} events in {time.perf_counter() - t:.1f} s")
    total = store.count_events()
    span = timedelta(seconds=SPACING_S * total)
    q = EventQuery(emotion="happiness", type="micro", min_confidence=0.5, since_utc=format_utc(START + 0.3 * span),
                   until_utc=format_utc(START + 0.7 * span), limit=200)
    times = []
    hits = 0
    for _ in range(args.repeat):
        t = time.perf_counter()
        rows = store.query_events(q)
        hits = store.count_events(q)
        times.append((time.perf_counter() - t) * 1000)
        assert len(rows) == min(hits, q.limit)
    store.close()
    times.sort()
    kind = "postgresql" if args.database.startswith("postgres") else "sqlite"
    print(f"store {kind}: {total} events; filtered query (emotion+type+confidence+40% time range, newest 200 + count, "
          f"{hits} matches): median {statistics.median(times):.1f} ms, p95 {times[int(0.95 * (len(times) - 1))]:.1f} ms "
          f"over {len(times)} runs on {platform.machine()} {platform.processor() or platform.platform()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
