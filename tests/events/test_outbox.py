"""The durable outbox on real SQLite files: order, durability, sessions, bounds, threads."""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid

import pytest

from edge.events.outbox import Outbox, OutboxError
from edge.events.record import Event


def make_event(i: int = 0, session: str = "", onset: str = "2026-11-29T11:00:00.000Z", pad: int = 0) -> Event:
    return Event(
        onset_frame=i, apex_frame=i + 3, offset_frame=i + 10,
        onset_utc=onset, apex_utc=onset, offset_utc=onset,
        duration_ms=83.3, type="micro", emotion="happiness", confidence=0.8,
        scores={"anger": 0.0, "contempt": 0.0, "disgust": 0.0, "fear": 0.0, "happiness": 0.8, "sadness": 0.1,
                "surprise": 0.1},
        aus={"AU6": 0.4, "AU12": 0.7}, head_pose={"yaw": 1.0, "pitch": 2.0, "roll": 0.5},
        versions={"software": "0.1.0", "models": "x" * pad}, session=session, video="clip.mp4",
    )


class FakeClock:
    def __init__(self, t: float = 1_800_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_put_pending_deliver_in_order_and_survives_reopen(tmp_path):
    path = tmp_path / "outbox.sqlite3"
    ob = Outbox(path, device="room-1")
    evs = [make_event(i) for i in range(10)]
    seqs = [ob.put(e) for e in evs]
    assert seqs == sorted(seqs)
    pend = ob.pending(100)
    assert [p["id"] for _, p in pend] == [e.id for e in evs]
    assert pend[0][1]["device"] == "room-1" and pend[0][1]["schema"] == 1
    for seq, _ in pend[:4]:
        ob.mark_delivered(seq)
    # no close(): a crash right after put must not lose anything committed
    ob2 = Outbox(path)
    assert [p["id"] for _, p in ob2.pending(100)] == [e.id for e in evs[4:]]
    assert ob2.stats().depth == 6 and ob2.stats().total == 10
    ob2.close()
    ob.close()


def test_pragmas_wal_and_full_sync(tmp_path):
    ob = Outbox(tmp_path / "o.sqlite3")
    assert ob._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert ob._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    ob.close()


def test_duplicate_id_is_idempotent(tmp_path):
    ob = Outbox(tmp_path / "o.sqlite3")
    e = make_event()
    assert ob.put(e) == ob.put(e)
    assert ob.stats().total == 1 and ob.stats().accepted == 1
    with pytest.raises(ValueError):
        ob.put({"emotion": "anger"})


def test_sessions_fill_filter_and_erase(tmp_path):
    ob = Outbox(tmp_path / "o.sqlite3")
    assert ob.current_session() is None and ob.latest_session() is None
    s = ob.start_session("interview-1")
    assert s["id"] == "interview-1" and s["state"] == "running" and s["stopped"] is None
    a = [make_event(i, onset=f"2026-11-29T11:00:0{i}.000Z") for i in range(3)]
    for e in a:
        ob.put(e)
    ob.start_session("interview-2")  # stops interview-1 first
    assert [x["state"] for x in ob.sessions()] == ["running", "stopped"]
    b = make_event(9, onset="2026-11-29T12:00:00.000Z")
    ob.put(b)
    explicit = make_event(10, session="other")
    ob.put(explicit)
    assert [e["id"] for e in ob.events(session="interview-1")] == [e.id for e in reversed(a)]
    assert ob.get(b.id)["session"] == "interview-2"
    assert ob.get(explicit.id)["session"] == "other"
    window = ob.events(since_utc="2026-11-29T11:00:01.000Z", until_utc="2026-11-29T11:00:02.000Z")
    assert [e["id"] for e in window] == [a[2].id, a[1].id]
    assert len(ob.events(limit=2)) == 2
    stopped = ob.stop_session()
    assert stopped["id"] == "interview-2" and stopped["state"] == "stopped" and stopped["stopped"]
    assert ob.stop_session() is None
    assert ob.current_session() is None and ob.latest_session()["id"] == "interview-2"
    assert ob.erase_session("interview-1") == 3
    assert ob.events(session="interview-1") == [] and ob.get(a[0].id) is None
    assert ob.stats().erased == 3
    assert [x["id"] for x in ob.sessions()] == ["interview-2"]
    # nothing of the erased events is left readable in the database or its WAL
    raw = b"".join(f.read_bytes() for f in tmp_path.iterdir() if f.name.startswith("o.sqlite3"))
    assert all(e.id.encode() not in raw for e in a) and b.id.encode() in raw


def test_count_cap_evicts_delivered_first_then_oldest_undelivered(tmp_path):
    ob = Outbox(tmp_path / "o.sqlite3", max_events=100)
    evs = [make_event(i) for i in range(100)]
    for e in evs:
        ob.put(e)
    for seq, _ in ob.pending(30):  # the 30 oldest are delivered
        ob.mark_delivered(seq)
    more = [make_event(100 + i) for i in range(50)]
    for e in more:
        ob.put(e)
    st = ob.stats()
    assert st.total == 100
    assert st.evicted_delivered == 30 and st.evicted_undelivered == 20
    kept = ob.ids()
    assert kept == {e.id for e in evs[50:]} | {e.id for e in more}
    assert st.accepted == st.total + st.evicted_delivered + st.evicted_undelivered
    # counters are persisted
    ob.close()
    st2 = Outbox(tmp_path / "o.sqlite3", max_events=100).stats()
    assert (st2.evicted_delivered, st2.evicted_undelivered) == (30, 20)


def test_size_cap_holds_on_disk_and_every_event_is_accounted(tmp_path):
    path = tmp_path / "o.sqlite3"
    ob = Outbox(path, max_mb=1.0, max_events=10**6)
    cap = 1024 * 1024
    peak = 0
    n = 800
    for i in range(n):  # ~8.6 KiB each: ~7 MiB offered to a 1 MiB outbox
        ob.put(make_event(i, pad=8000))
        if i % 25 == 0:
            ob.mark_delivered(ob.pending(1)[0][0])
            peak = max(peak, ob.size_on_disk())
    peak = max(peak, ob.size_on_disk())
    st = ob.stats()
    assert peak <= cap, f"outbox grew to {peak} bytes over a {cap} byte cap"
    assert st.evicted_undelivered > n // 2 and st.evicted_delivered > 0
    assert st.accepted == n == st.total + st.evicted_delivered + st.evicted_undelivered
    # eviction keeps a useful buffer, not an empty one: stored payload is a fair share of the cap
    stored = sum(len(json.dumps(e)) for e in ob.events(limit=10**6))
    assert stored > 0.4 * cap, (stored, st)
    # the newest event is always kept
    assert ob.pending(10**6)[-1][1]["onset_frame"] == n - 1


def test_retention_by_age_counts_delivered_and_undelivered(tmp_path):
    clock = FakeClock()
    ob = Outbox(tmp_path / "o.sqlite3", max_age_days=30, clock=clock)
    old = [make_event(i) for i in range(5)]
    for e in old:
        ob.put(e)
    ob.mark_delivered(ob.pending(1)[0][0])
    clock.t += 10 * 86400
    assert ob.stats().oldest_undelivered_age_s == pytest.approx(10 * 86400)
    new = make_event(99)
    ob.put(new)
    clock.t += 21 * 86400
    ob.enforce()
    st = ob.stats()
    assert ob.ids() == {new.id}
    assert (st.expired_delivered, st.expired_undelivered) == (1, 4)


def test_refused_events_are_kept_counted_and_requeued(tmp_path):
    ob = Outbox(tmp_path / "o.sqlite3")
    evs = [make_event(i) for i in range(3)]
    for e in evs:
        ob.put(e)
    first = ob.pending(1)[0][0]
    ob.mark_refused(first)
    assert [p["id"] for _, p in ob.pending(10)] == [evs[1].id, evs[2].id]
    st = ob.stats()
    assert st.refused == 1 and st.depth == 3
    assert ob.requeue_refused() == 1
    assert ob.pending(10)[0][0] == first
    ob.mark_delivered(first)
    assert ob.stats().refused == 0


def test_two_threads_share_one_outbox(tmp_path):
    ob = Outbox(tmp_path / "o.sqlite3")
    errors: list[BaseException] = []
    ids: list[str] = []
    lock = threading.Lock()

    def producer() -> None:
        try:
            for i in range(300):
                e = make_event(i)
                ob.put(e)
                with lock:
                    ids.append(e.id)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    def deliverer(stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                for seq, _ in ob.pending(20):
                    ob.mark_delivered(seq)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    stop = threading.Event()
    threads = [threading.Thread(target=producer) for _ in range(2)]
    d = threading.Thread(target=deliverer, args=(stop,))
    d.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    d.join()
    assert not errors
    assert ob.ids() == set(ids) and len(ids) == 600


def test_not_an_outbox_is_a_clear_input_error(tmp_path):
    bad = tmp_path / "o.sqlite3"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(OutboxError, match="not a usable outbox"):
        Outbox(bad)


def test_payload_is_stored_as_json_event_record(tmp_path):
    ob = Outbox(tmp_path / "o.sqlite3")
    e = make_event(5)
    ob.put(e)
    raw = sqlite3.connect(tmp_path / "o.sqlite3").execute("SELECT payload FROM events").fetchone()[0]
    d = json.loads(raw)
    assert Event.from_dict({k: v for k, v in d.items()}).to_dict() == d
    assert uuid.UUID(d["id"])


def test_a_full_disk_evicts_and_keeps_accepting(tmp_path):
    ob = Outbox(tmp_path / "o.sqlite3")
    for i in range(20):
        ob.put(make_event(i, pad=500))
    for seq, _ in ob.pending(5):
        ob.mark_delivered(seq)
    pages = ob._db.execute("PRAGMA page_count").fetchone()[0]
    ob._db.execute(f"PRAGMA max_page_count={pages}")  # the file cannot grow: as on a full disk
    newest = [make_event(100 + i, pad=500) for i in range(30)]
    for e in newest:
        ob.put(e)
    st = ob.stats()
    assert st.evicted_delivered == 5 and st.evicted_undelivered > 0
    assert {e.id for e in newest[-5:]} <= ob.ids()  # the newest survive; oldest went first
    assert st.accepted == 50 == st.total + st.evicted_delivered + st.evicted_undelivered
