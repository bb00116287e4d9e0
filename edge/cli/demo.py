"""`microexpr demo`: the product's main job on an embedded default (generated footage)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="replay generated sample footage through the whole product")
    p.add_argument("--exit", action="store_true", help="exit after the replay instead of serving the dashboard")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edge.demo import run_demo

    return run_demo(args)
