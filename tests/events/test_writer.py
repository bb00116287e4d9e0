"""The outbox writer thread: commits in order, answers queries in turn, retries a failing disk, never skips."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time

from test_outbox import make_event

from edge.events.outbox import Outbox
from edge.events.writer import OutboxWriter


class FailingDisk(Outbox):
    """A real outbox whose first `fail` commits hit an I/O error (the disk edge)."""

    def __init__(self, *a, fail: int = 0, **kw) -> None:
        super().__init__(*a, **kw)
        self.fail = fail
        self.attempts = 0

    def put(self, event):
        self.attempts += 1
        if self.attempts <= self.fail:
            raise sqlite3.OperationalError("disk I/O error")
        return super().put(event)


def test_commits_in_order_and_runs_queries_after_what_came_before(tmp_path):
    ob = Outbox(tmp_path / "ob.sqlite3")
    committed = []
    w = OutboxWriter(ob, on_committed=lambda ev: committed.append((ev.id, threading.current_thread().name))).start()
    events = [make_event(i) for i in range(20)]
    for ev in events[:10]:
        w.submit(ev)
    depth = w.call(lambda o: o.stats().depth)  # answered after the ten before it
    for ev in events[10:]:
        w.submit(ev)
    assert depth.result(10) == 10
    assert w.flush(10) and w.backlog == 0 and w.committed == 20
    assert [seq_ev[1]["id"] for seq_ev in ob.pending(100)] == [e.id for e in events]  # delivery order = commit order
    assert [c[0] for c in committed] == [e.id for e in events]
    assert {c[1] for c in committed} == {"outbox-writer"}
    assert w.stop(5) and not w.running
    ob.close()


def test_a_failing_disk_is_retried_and_nothing_is_skipped(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="edge.events.writer")
    ob = FailingDisk(tmp_path / "ob.sqlite3", fail=3)
    w = OutboxWriter(ob, retry_s=(0.01, 0.05)).start()
    events = [make_event(i) for i in range(5)]
    for ev in events:
        w.submit(ev)
    assert w.flush(10)
    assert [p[1]["id"] for p in ob.pending(100)] == [e.id for e in events]
    assert w.failures == 3 and w.committed == 5 and ob.attempts == 8
    assert sum("cannot commit event" in r.getMessage() for r in caplog.records) == 1  # one line, not one per retry
    assert any("commits work again" in r.getMessage() for r in caplog.records)
    w.stop(5)
    ob.close()


def test_stop_waits_for_the_backlog_and_says_when_it_cannot(tmp_path, caplog):
    ob = FailingDisk(tmp_path / "ob.sqlite3", fail=10**9)  # the disk never recovers
    w = OutboxWriter(ob, retry_s=(0.01, 0.02)).start()
    w.submit(make_event(1))
    w.submit(make_event(2))
    t0 = time.monotonic()
    assert not w.stop(0.3)
    assert 0.25 <= time.monotonic() - t0 < 2.0
    assert w.backlog == 2
    assert any("2 events still not committed" in r.getMessage() and "disk I/O error" in r.getMessage()
               for r in caplog.records)
    ob.fail = 0  # the disk comes back: the thread, still running, commits both
    deadline = time.monotonic() + 5
    while w.backlog and time.monotonic() < deadline:
        time.sleep(0.01)
    assert w.backlog == 0 and ob.stats().depth == 2
    ob.close()


def test_a_record_the_outbox_can_never_take_is_logged_whole_and_the_rest_go_on(tmp_path, caplog):
    ob = Outbox(tmp_path / "ob.sqlite3")
    w = OutboxWriter(ob).start()
    bad = make_event(1)
    bad.id = ""
    w.submit(bad)
    w.submit(make_event(2))
    assert w.flush(10) and ob.stats().depth == 1
    refused = [r.getMessage() for r in caplog.records if "refused event" in r.getMessage()]
    assert len(refused) == 1 and '"onset_frame"' in refused[0]  # the whole record is in the journal
    failed = w.call(lambda o: 1 / 0)
    try:
        failed.result(5)
        raise AssertionError("the query's exception must reach its caller")
    except ZeroDivisionError:
        pass
    w.stop(5)
    ob.close()
