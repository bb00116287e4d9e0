"""Load a TFLite interpreter from LiteRT, or from tflite-runtime where LiteRT is absent.

LiteRT (`ai-edge-litert`) is current and needs numpy 2; `tflite-runtime` 2.14 is
the Raspberry Pi OS Bookworm path (numpy < 2). `$MICROEXPR_TFLITE_RUNTIME`
(`litert` or `tflite`) forces one, so the test suite can exercise both.
"""

from __future__ import annotations

import importlib
import logging
import os
from dataclasses import dataclass
from typing import Any

from edge.errors import ModelError

log = logging.getLogger(__name__)

RUNTIMES: dict[str, str] = {
    "litert": "ai_edge_litert.interpreter",
    "tflite": "tflite_runtime.interpreter",
}


@dataclass(frozen=True)
class Runtime:
    name: str  # "litert" or "tflite"
    version: str
    interpreter_cls: Any


def find_runtime(prefer: str | None = None) -> Runtime:
    """The first importable runtime, in order of preference."""
    prefer = prefer or os.environ.get("MICROEXPR_TFLITE_RUNTIME") or None
    if prefer and prefer not in RUNTIMES:
        raise ModelError(f"MICROEXPR_TFLITE_RUNTIME: must be litert or tflite, got {prefer!r}")
    order = [prefer] if prefer else list(RUNTIMES)
    errors = []
    for name in order:
        try:
            mod = importlib.import_module(RUNTIMES[name])
        except ImportError as e:
            errors.append(f"{name}: {e}")
            continue
        top = importlib.import_module(RUNTIMES[name].split(".")[0])
        version = getattr(top, "__version__", "") or _dist_version(name)
        return Runtime(name=name, version=version, interpreter_cls=mod.Interpreter)
    raise ModelError("no TFLite runtime: install ai-edge-litert or tflite-runtime (" + "; ".join(errors) + ")")


def _dist_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    dist = {"litert": "ai-edge-litert", "tflite": "tflite-runtime"}[name]
    try:
        return version(dist)
    except PackageNotFoundError:
        return "unknown"


def load_interpreter(path: str | os.PathLike[str], threads: int, runtime: Runtime | None = None) -> Any:
    """An allocated interpreter with XNNPACK on `threads` threads."""
    runtime = runtime or find_runtime()
    try:
        interp = runtime.interpreter_cls(model_path=str(path), num_threads=max(1, threads))
        interp.allocate_tensors()
    except ValueError as e:
        raise ModelError(f"{path}: cannot load model ({e})") from None
    return interp
