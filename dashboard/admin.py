"""``python -m dashboard.admin``: erase from the central store, run a retention pass, list erasures.

For a data-protection request handled outside the web page: the same store
methods as ``POST /api/erase``, each erasure recorded with who asked.
"""

from __future__ import annotations

import argparse
import json
import sys

from dashboard.retention import RetentionLoop, RetentionPolicy
from dashboard.store import open_store
from edge.config import load_config
from edge.errors import InputError


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m dashboard.admin",
                                description="Erase from the central store, run a retention pass, list erasures.")
    p.add_argument("--config", help="TOML config file (default $MICROEXPR_CONFIG)")
    p.add_argument("--database", help="store URL (default dashboard.database: SQLite in the data dir)")
    sub = p.add_subparsers(dest="action", required=True)
    e = sub.add_parser("erase", help="erase one session (optionally on one device) or everything of one device")
    e.add_argument("--session", default="", help="interview session id")
    e.add_argument("--device", default="", help="device id (alone: every event of that device)")
    e.add_argument("--requested-by", default="", help="who asked for it (a name, a ticket); required")
    sub.add_parser("retention", help="run one retention pass now with the configured limits")
    sub.add_parser("erasures", help="list the recorded erasures, newest first")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        cfg = load_config(args.config, overrides={"dashboard.database": args.database})
        store = open_store(cfg.dashboard.database, cfg.data_dir)
        try:
            if args.action == "erase":
                if not (args.session or args.device):
                    raise InputError("erase: give --session and/or --device")
                if args.session:
                    done = [store.erase_session(args.session, args.requested_by, args.device)]
                else:
                    done = [store.erase_device(args.device, args.requested_by)]
            elif args.action == "retention":
                done = RetentionLoop(store, RetentionPolicy.from_config(cfg.dashboard)).run_once()
            else:
                done = store.erasures()
        finally:
            store.close()
    except InputError as e:
        print(f"dashboard.admin: {e}", file=sys.stderr)
        return 2
    print(json.dumps([d.to_dict() for d in done], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
