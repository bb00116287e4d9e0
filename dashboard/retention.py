"""The central store's periodic retention pass (limits from the config, on its own thread)."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from dashboard.erasure import Erasure
from dashboard.store import CentralStore
from edge.config import DashboardConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetentionPolicy:
    """``dashboard.retention_days``, ``retention_max_events`` and ``retention_interval_s``."""

    max_age_days: float
    max_events: int
    interval_s: float

    @classmethod
    def from_config(cls, cfg: DashboardConfig) -> RetentionPolicy:
        return cls(cfg.retention_days, cfg.retention_max_events, cfg.retention_interval_s)


class RetentionLoop:
    """Runs the pass at start and then every ``interval_s``; a failed pass is logged and tried again next time.

    Instances sharing a store each run it; the deletes are idempotent.
    """

    def __init__(self, store: CentralStore, policy: RetentionPolicy) -> None:
        self.store = store
        self.policy = policy
        self.passes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="dashboard-retention", daemon=True)

    def run_once(self) -> list[Erasure]:
        done = self.store.apply_retention(self.policy.max_age_days, self.policy.max_events)
        self.passes += 1
        return done

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # a database hiccup must not end retention for good
                log.exception("retention pass failed; trying again in %.0f s", self.policy.interval_s)
            self._stop.wait(self.policy.interval_s)

    def start(self) -> None:
        log.info("retention: events older than %g days or beyond the newest %d are erased every %.0f s",
                 self.policy.max_age_days, self.policy.max_events, self.policy.interval_s)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
