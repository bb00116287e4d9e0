"""JSON Schemas of every MQTT payload (draft 2020-12); tests validate against them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SCHEMA_DIR = Path(__file__).parent
NAMES = ("event", "status", "health", "session", "command", "reply", "discovery")


def load_schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMA_DIR / f"{name}.json").read_text(encoding="utf-8"))


def validator(name: str, definition: str | None = None) -> Any:
    """A jsonschema validator for one schema (or one of its $defs), with cross-file $refs resolved.

    jsonschema is a development dependency: the unit itself never imports this.
    """
    import jsonschema
    from referencing import Registry, Resource

    schemas = {n: load_schema(n) for n in NAMES}
    registry = Registry().with_resources(
        (s["$id"], Resource.from_contents(s)) for s in schemas.values()
    )
    schema = schemas[name]
    if definition is not None:
        schema = {"$id": schema["$id"], "$ref": f"#/$defs/{definition}", "$defs": schema["$defs"]}
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, registry=registry, format_checker=cls.FORMAT_CHECKER)
