"""`microexpr config`: print the validated configuration, or every field with its doc."""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

from edge.config import Config, load_config, redacted_url
from edge.config_rules import allowed


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="show the effective configuration (--doc: every field documented)")
    p.add_argument("--doc", action="store_true", help="print every field with its default and documentation")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.doc:
        print(reference())
        return 0
    cfg = load_config(args.config)
    print(json.dumps(masked(cfg), indent=2))
    return 0


def masked(cfg: Config) -> dict[str, Any]:
    """The configuration as a dict with every secret, including one inside the broker URL, shown as ***.

    The dashboard's password hash is one too: its session cookies are signed with a key derived from it.
    """
    d = dataclasses.asdict(cfg)
    for section, key in (("mqtt", "password"), ("dashboard", "password"), ("dashboard", "password_hash")):
        if d[section][key]:
            d[section][key] = "***"
    d["mqtt"]["url"] = redacted_url(d["mqtt"]["url"])
    return d


def reference() -> str:
    """Every field with its default, documentation and allowed values, as TOML comments."""
    lines: list[str] = []
    for sf in dataclasses.fields(Config):
        lines.append(f"[{sf.name}]")
        for f in dataclasses.fields(sf.default_factory):
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            rule = allowed(f"{sf.name}.{f.name}")
            lines.append(f"# {f.metadata.get('doc', '')}" + (f" Allowed: {rule}." if rule else ""))
            lines.append(f"{f.name} = {_toml_value(default)}")
        lines.append("")
    return "\n".join(lines)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(v)
