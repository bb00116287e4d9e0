"""`microexpr dashboard`: the web dashboard, fleet-wide over MQTT or on the device (--local)."""

from __future__ import annotations

import argparse
import getpass
import sys

from edge.config import load_config


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dashboard", help="serve the web dashboard (login required)",
                       description="Serve the dashboard. Central: ingests MQTT ($MICROEXPR_MQTT_URL) into its store. "
                                   "--local: the device's own outbox and clips, no broker.")
    p.add_argument("--listen", help="HOST:PORT (default dashboard.listen, 127.0.0.1:8080)")
    p.add_argument("--local", action="store_true", help="serve this device's outbox and clips instead of MQTT")
    p.add_argument("--database", help="store URL: sqlite:///path or postgresql://... (default SQLite in the data dir)")
    p.add_argument("--hash-password", action="store_true",
                   help="read a password (stdin or prompt), print its scrypt hash for dashboard.password_hash, exit")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.hash_password:
        from dashboard.auth import hash_password

        pw = getpass.getpass("Password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
        if not pw:
            print("microexpr dashboard: empty password", file=sys.stderr)
            return 2
        print(hash_password(pw))
        return 0
    cfg = load_config(args.config, overrides={"dashboard.listen": args.listen, "dashboard.database": args.database})
    from dashboard.server import serve

    serve(cfg, local=args.local)
    return 0
