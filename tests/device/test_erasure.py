"""`microexpr erase --session ID` removes that session's events and clips, and nothing else."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
from pathlib import Path

from device_helpers import event, make_clip

from edge.cli.main import main
from edge.device.clips import ClipStore
from edge.device.erasure import ErasureLog, erase_session_data
from edge.events.outbox import Outbox

ROOT = Path(__file__).resolve().parents[2]


def snapshot(root: Path) -> dict[str, str]:
    """Every file under root with its content hash (SQLite files excluded: compared by rows)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*")) if p.is_file() and "outbox.sqlite3" not in p.name
    }


def populate(data: Path) -> dict[str, list[str]]:
    outbox = Outbox(data / "outbox.sqlite3", device="room-1")
    store = ClipStore(data / "clips", max_mb=100, max_age_days=7)
    ids: dict[str, list[str]] = {"A": [], "B": [], "": []}
    for session, count in (("A", 3), ("B", 2)):
        outbox.start_session(session)
        for _ in range(count):
            cid = make_clip(store, session)
            ev = event(1, 2, 3, session)
            ev.id = cid
            outbox.put(ev)
            ids[session].append(cid)
    outbox.stop_session()
    ev = event(1, 2, 3, "")
    outbox.put(ev)
    ids[""].append(ev.id)
    # A clip of session A whose event the outbox no longer holds (evicted): still A's data.
    ids["A"].append(make_clip(store, "A"))
    (data / "health.json").write_text('{"schema": 1}')
    (data / "notes.txt").write_text("not ours to erase")
    outbox.close()
    return ids


def test_erase_removes_the_session_and_nothing_else(tmp_path):
    data = tmp_path / "data"
    ids = populate(data)
    before = snapshot(data)
    conf = tmp_path / "c.toml"
    conf.write_text(f'[device]\ndata_dir = "{data}"\nid = "room-1"\n')
    r = subprocess.run([sys.executable, "-m", "edge", "--config", str(conf), "erase", "--session", "A"],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "erased session A: 3 events, 4 clips"
    after = snapshot(data)
    removed = set(before) - set(after)
    assert removed == {k for k in before if k.split("/")[0] == "clips" and k.split("/")[1] in ids["A"]}
    assert {k.split("/")[1] for k in removed} == set(ids["A"]) and len(removed) == 4 * 4  # clip.json + 3 JPEGs
    assert set(after) - set(before) == {"erasures.jsonl"}  # the erasure log: who asked, never what was erased
    assert all(after[k] == before[k] for k in after if k in before)  # everything else byte-identical
    db = sqlite3.connect(data / "outbox.sqlite3")
    rows = {r[0]: r[1] for r in db.execute("SELECT id, session FROM events")}
    assert set(rows) == set(ids["B"]) | set(ids[""])
    assert [r[0] for r in db.execute("SELECT id FROM sessions")] == ["B"]
    db.close()


def test_erase_function_counts_and_unknown_session(tmp_path):
    data = tmp_path / "data"
    ids = populate(data)
    outbox = Outbox(data / "outbox.sqlite3")
    store = ClipStore(data / "clips", 100, 7)
    res = erase_session_data(outbox, store, "nobody")
    assert (res.events, res.clips) == (0, 0)
    res = erase_session_data(outbox, store, "B")
    assert (res.events, res.clips) == (2, 2)
    assert outbox.ids() == set(ids["A"][:3]) | set(ids[""])
    outbox.close()


def test_erase_without_an_outbox_is_one_clear_error(tmp_path, capsys):
    conf = tmp_path / "c.toml"
    conf.write_text(f'[device]\ndata_dir = "{tmp_path / "empty"}"\n')
    assert main(["--config", str(conf), "erase", "--session", "A"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no outbox on this device" in err


def test_an_erasure_records_who_asked_and_how_but_nothing_of_what_was_erased(tmp_path):
    data = tmp_path / "data"
    populate(data)
    outbox = Outbox(data / "outbox.sqlite3")
    store = ClipStore(data / "clips", 100, 7)
    log = ErasureLog(data / "erasures.jsonl")
    res = erase_session_data(outbox, store, "B", requester="dpo@example.org", via="mqtt", erasures=log)
    erase_session_data(outbox, store, "nobody", requester="alice", via="cli", erasures=log)
    outbox.close()
    records = log.read()
    assert [(r.session, r.requester, r.via, r.events, r.clips) for r in records] == [
        ("B", "dpo@example.org", "mqtt", res.events, res.clips), ("nobody", "alice", "cli", 0, 0)]
    assert all(r.at.endswith("Z") for r in records)
    text = (data / "erasures.jsonl").read_text()
    assert "AU12" not in text and "happiness" not in text  # no event content survives in the log


def test_the_erase_command_logs_the_requester(tmp_path):
    import getpass
    import json

    data = tmp_path / "data"
    populate(data)
    conf = tmp_path / "c.toml"
    conf.write_text(f'[device]\ndata_dir = "{data}"\nid = "room-1"\n')
    r = subprocess.run([sys.executable, "-m", "edge", "--config", str(conf), "erase", "--session", "A",
                        "--requester", "subject request #17 (j.doe)"], cwd=ROOT, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, "-m", "edge", "--config", str(conf), "erase", "--session", "B"],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in (data / "erasures.jsonl").read_text().splitlines()]
    assert [(x["session"], x["requester"], x["via"]) for x in lines] == [
        ("A", "subject request #17 (j.doe)", "cli"), ("B", getpass.getuser(), "cli")]
