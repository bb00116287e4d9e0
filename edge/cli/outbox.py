"""`microexpr outbox`: show, export and manage the local event buffer.

  show     stats and the newest events with their delivery state
  export   events as CSV or JSON (newest first), filtered by session and time
  requeue  make events the broker refused pending again (after fixing its ACL)

To erase a session (events and clips), use `microexpr erase --session ID`.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

from edge.config import load_config
from edge.errors import InputError
from edge.events.outbox import Outbox, open_outbox
from edge.events.record import EMOTIONS

CSV_FIELDS = ["id", "device", "session", "video", "type", "emotion", "confidence", "onset_utc", "apex_utc",
              "offset_utc", "onset_frame", "apex_frame", "offset_frame", "duration_ms", "aus", "head_pose"] + [
              f"score_{e}" for e in EMOTIONS]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("outbox", help="show or export the local event buffer",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", help="data directory holding outbox.sqlite3 (default: configured)")
    acts = p.add_subparsers(dest="action", metavar="ACTION")
    show = acts.add_parser("show", help="stats and the newest events")
    show.add_argument("--limit", type=int, default=20, help="events to list (default 20)")
    show.add_argument("--json", action="store_true", help="print stats and events as JSON")
    exp = acts.add_parser("export", help="export events as CSV or JSON")
    exp.add_argument("--format", choices=("csv", "json"), default="csv")
    exp.add_argument("--session", help="only this session")
    exp.add_argument("--since", help="onset at or after this UTC time (ISO 8601, e.g. 2026-11-29T10:00:00Z)")
    exp.add_argument("--until", help="onset at or before this UTC time")
    exp.add_argument("--limit", type=int, default=1_000_000)
    exp.add_argument("-o", "--output", help="file to write (default standard output)")
    acts.add_parser("requeue", help="retry events the broker refused")
    p.set_defaults(func=run, action="show", limit=20, json=False)


def _open(args: argparse.Namespace) -> Outbox:
    cfg = load_config(args.config, overrides={"device.data_dir": args.data_dir})
    path = cfg.data_dir / "outbox.sqlite3"
    if not path.exists():
        raise InputError(f"no outbox at {path} (nothing buffered yet, or set device.data_dir / $MICROEXPR_DATA_DIR)")
    return open_outbox(cfg)


def run(args: argparse.Namespace) -> int:
    with _open(args) as ob:
        if args.action == "show":
            return _show(ob, args)
        if args.action == "export":
            return _export(ob, args)
        n = ob.requeue_refused()
        print(f"{n} refused events queued for delivery again")
        return 0


def _show(ob: Outbox, args: argparse.Namespace) -> int:
    st = ob.stats()
    rows = ob.rows(args.limit)
    if args.json:
        json.dump({"path": str(ob.path), "stats": st.to_dict(), "session": ob.latest_session(), "events": rows},
                  sys.stdout, indent=1)
        print()
        return 0
    age = "-" if st.oldest_undelivered_age_s is None else f"{st.oldest_undelivered_age_s:.0f} s"
    print(f"outbox {ob.path} ({st.size_bytes / 2**20:.1f} MiB)")
    print(f"  stored {st.total}, undelivered {st.depth} (refused {st.refused}), oldest undelivered {age}")
    print(f"  evicted delivered {st.evicted_delivered}, evicted undelivered {st.evicted_undelivered}, "
          f"expired {st.expired_delivered + st.expired_undelivered}, erased {st.erased}, accepted {st.accepted}")
    s = ob.latest_session()
    print(f"  session {s['id']} {s['state']} since {s['started']}" if s else "  no session")
    for r in rows:
        e = r["event"]
        print(f"  {r['seq']:>7} {r['state']:<9} {e.get('onset_utc', ''):<24} {e.get('type', ''):<5} "
              f"{e.get('emotion') or '-':<9} {float(e.get('confidence', 0)):.2f} {e.get('session', '')} {e['id']}")
    return 0


def _csv_row(e: dict[str, Any]) -> dict[str, Any]:
    row = {k: e.get(k, "") for k in CSV_FIELDS if not k.startswith("score_")}
    row["aus"] = json.dumps(e.get("aus", {}), separators=(",", ":"))
    row["head_pose"] = json.dumps(e.get("head_pose", {}), separators=(",", ":"))
    for emo in EMOTIONS:
        row[f"score_{emo}"] = e.get("scores", {}).get(emo, "")
    return row


def _export(ob: Outbox, args: argparse.Namespace) -> int:
    events = ob.events(session=args.session, since_utc=args.since, until_utc=args.until, limit=args.limit)
    if args.format == "json":
        text = json.dumps(events, indent=1) + "\n"
    else:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
        w.writeheader()
        for e in events:
            w.writerow(_csv_row(e))
        text = buf.getvalue()
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {len(events)} events to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
