"""`microexpr outbox` show/export/requeue on a real outbox file, through the real CLI entry."""

from __future__ import annotations

import csv
import io
import json
import uuid

from edge.cli.main import main
from edge.events.outbox import Outbox
from edge.events.record import Event


def event(n: int, onset: str, session: str = "") -> Event:
    return Event(onset_frame=n, apex_frame=n + 2, offset_frame=n + 5, onset_utc=onset, apex_utc=onset,
                 offset_utc=onset, duration_ms=40.0, type="micro", emotion="fear", confidence=0.6,
                 scores={"fear": 0.6, "surprise": 0.4}, aus={"AU1": 0.3, "AU4": 0.5},
                 head_pose={"yaw": 0.0, "pitch": 1.0, "roll": 0.0}, versions={"software": "0.1.0"},
                 id=str(uuid.uuid4()), session=session)


def filled(tmp_path) -> tuple[Outbox, list[Event]]:
    ob = Outbox(tmp_path / "outbox.sqlite3", device="room-1")
    evs = [event(i, f"2026-11-29T10:00:0{i}.000Z", session="s1" if i < 3 else "s2") for i in range(5)]
    for e in evs:
        ob.put(e)
    ob.mark_delivered(ob.pending(1)[0][0])
    ob.mark_refused(ob.pending(1)[0][0])
    return ob, evs


def test_show_lists_stats_and_states(tmp_path, capsys):
    ob, evs = filled(tmp_path)
    assert main(["outbox", "--data-dir", str(tmp_path), "show"]) == 0
    out = capsys.readouterr().out
    assert "stored 5, undelivered 4 (refused 1)" in out
    states = [line.split()[1] for line in out.splitlines()[4:]]
    assert sorted(states) == ["delivered", "pending", "pending", "pending", "refused"]
    assert main(["outbox", "--data-dir", str(tmp_path), "show", "--json", "--limit", "2"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["stats"]["depth"] == 4 and [r["event"]["id"] for r in doc["events"]] == [evs[4].id, evs[3].id]
    ob.close()


def test_export_csv_and_json_with_filters(tmp_path, capsys):
    ob, evs = filled(tmp_path)
    out_file = tmp_path / "s1.csv"
    assert main(["outbox", "--data-dir", str(tmp_path), "export", "--session", "s1", "-o", str(out_file)]) == 0
    rows = list(csv.DictReader(io.StringIO(out_file.read_text())))
    assert [r["id"] for r in rows] == [evs[2].id, evs[1].id, evs[0].id]
    assert rows[0]["score_fear"] == "0.6" and json.loads(rows[0]["aus"]) == {"AU1": 0.3, "AU4": 0.5}
    assert main(["outbox", "--data-dir", str(tmp_path), "export", "--format", "json",
                 "--since", "2026-11-29T10:00:03Z", "--until", "2026-11-29T10:00:04.000Z"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert [e["id"] for e in got] == [evs[4].id, evs[3].id]
    assert main(["outbox", "--data-dir", str(tmp_path), "export", "--since", "yesterday"]) == 2
    assert "expected ISO 8601" in capsys.readouterr().err
    ob.close()


def test_requeue_and_missing_outbox(tmp_path, capsys):
    ob, _ = filled(tmp_path)
    assert main(["outbox", "--data-dir", str(tmp_path), "requeue"]) == 0
    assert "1 refused events" in capsys.readouterr().out
    assert ob.stats().refused == 0
    ob.close()
    assert main(["outbox", "--data-dir", str(tmp_path / "nowhere"), "show"]) == 2
    err = capsys.readouterr().err
    assert "no outbox at" in err and len(err.strip().splitlines()) == 1
