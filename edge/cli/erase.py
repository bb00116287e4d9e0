"""`microexpr erase --session ID`: erase one session's events and clips on this device."""

from __future__ import annotations

import argparse

from edge.config import load_config
from edge.errors import InputError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("erase", help="erase a session's events and clips on this device (privacy request)")
    p.add_argument("--session", required=True, help="session id to erase")
    p.add_argument("--requester", help="who asked, recorded in the erasure log (default: your login name)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edge.device.erasure import erase_session_data
    from edge.device.wiring import clip_store, erasure_log
    from edge.events.outbox import open_outbox

    if not args.session.strip():
        raise InputError("--session: empty session id")
    cfg = load_config(args.config)
    outbox_path = cfg.data_dir / "outbox.sqlite3"
    if not outbox_path.exists():
        raise InputError(f"{outbox_path}: no outbox on this device (nothing recorded yet)")
    with open_outbox(cfg) as outbox:
        erased = erase_session_data(outbox, clip_store(cfg), args.session, requester=args.requester or _login(),
                                    via="cli", erasures=erasure_log(cfg))
    print(f"erased session {erased.session}: {erased.events} events, {erased.clips} clips")
    return 0


def _login() -> str:
    """The person at the command line: the sudo caller if any, else the login name."""
    import getpass
    import os

    return os.environ.get("SUDO_USER") or getpass.getuser()
