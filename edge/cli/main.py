"""`microexpr` command line: one module per subcommand in edge/cli/.

Each subcommand module defines `add_parser(subparsers)` and `run(args) -> int`.
Bad input (InputError) becomes one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from edge import __version__
from edge.errors import InputError

# Subcommand name -> module in edge.cli. Add a line when adding a subcommand.
COMMANDS: dict[str, str] = {
    "run": "edge.cli.run",
    "erase": "edge.cli.erase",
    "replay": "edge.cli.replay",
    "camera": "edge.cli.camera",
    "models": "edge.cli.models",
    "footage": "edge.cli.footage",
    "demo": "edge.cli.demo",
    "config": "edge.cli.config_cmd",
    "synth": "edge.cli.synth",
    "eval": "edge.cli.eval",
    "dashboard": "edge.cli.dashboard",
    "bench": "edge.cli.bench",
    "outbox": "edge.cli.outbox",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="microexpr", description="Micro-expression spotting unit.")
    parser.add_argument("--version", action="version", version=f"microexpr {__version__}")
    parser.add_argument("--config", help="TOML configuration file (default $MICROEXPR_CONFIG)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module in COMMANDS.items():
        importlib.import_module(module).add_parser(sub)
    return parser


def setup_logging(verbose: int) -> None:
    """journald-friendly: no timestamps under systemd (journald adds them)."""
    level = logging.WARNING - 10 * min(verbose, 2) if verbose else logging.INFO
    under_systemd = "INVOCATION_ID" in os.environ or "JOURNAL_STREAM" in os.environ
    fmt = "%(levelname)s %(name)s: %(message)s" if under_systemd else "%(asctime)s %(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=level, format=fmt, stream=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    try:
        return int(args.func(args) or 0)
    except InputError as e:
        print(f"microexpr {args.command}: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
