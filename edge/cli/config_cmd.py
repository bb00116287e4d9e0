"""`microexpr config`: print the validated configuration, or every field with its doc."""

from __future__ import annotations

import argparse
import dataclasses
import json

from edge.config import describe, load_config


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="show the effective configuration (--doc: every field documented)")
    p.add_argument("--doc", action="store_true", help="print every field with its default and documentation")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.doc:
        print(describe())
        return 0
    cfg = load_config(args.config)
    d = dataclasses.asdict(cfg)
    for section, key in (("mqtt", "password"), ("dashboard", "password")):
        if d[section][key]:
            d[section][key] = "***"
    print(json.dumps(d, indent=2))
    return 0
