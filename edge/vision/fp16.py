"""Models derived from the fetched ones: the landmark model with XNNPACK's fp16 hint.

LiteRT runs MediaPipe's landmark model in fp32 even though its weights are fp16: XNNPACK
computes in fp16 only when the model's `reduced_precision_support` metadata says
`fp16accfp16` (the delegate then sets XNN_FLAG_HINT_FP16_INFERENCE) or the delegate is
forced to. A hint, not an order: on hardware without IEEE fp16 arithmetic (x86 without
AVX512-FP16) XNNPACK keeps computing in fp32, and on ARMv8.2+ cores such as the Pi 5's
Cortex-A76 it computes in fp16, about 1.5-2x as fast in published tables. So the derived
model is the float model plus one metadata entry, nothing else; its sha256 is pinned in
models/manifest.toml (`[derived.*]`) like the fetched ones.

Deriving needs the TFLite schema's Python bindings, which LiteRT (`ai-edge-litert`) ships;
without them the float model is used and `microexpr models` says so.
"""

from __future__ import annotations

import logging
import os
import platform
import tempfile
from dataclasses import dataclass
from pathlib import Path

from edge.errors import ModelError
from edge.pinned import sha256_of

log = logging.getLogger(__name__)

FP16_KEY = "reduced_precision_support"
FP16_VALUE = "fp16accfp16"  # fp16 inference, fp16 accumulation: what XNNPACK's delegate takes as its fp16 hint
ARM64 = ("aarch64", "arm64")


@dataclass(frozen=True)
class DerivedSpec:
    """A model we derive from a fetched one, pinned by its own sha256."""

    name: str
    file: str
    source: str  # the [models.*] entry it is derived from
    metadata_key: str
    metadata_value: str
    sha256: str
    card: str = ""


def with_metadata(src: Path, dst: Path, key: str, value: str) -> None:
    """Write `src` with one more metadata entry (`key` -> `value` bytes) to `dst`, atomically."""
    try:
        import numpy as np
        from ai_edge_litert import schema_py_generated as schema
        from ai_edge_litert.tools import flatbuffer_utils
    except ImportError as e:
        raise ModelError(f"deriving {dst.name} needs ai-edge-litert's TFLite schema ({e})") from None
    model = flatbuffer_utils.read_model(str(src))
    if any((m.name.decode() if isinstance(m.name, bytes) else m.name) == key for m in model.metadata or []):
        raise ModelError(f"{src}: already has {key} metadata")
    buf = schema.BufferT()
    buf.data = np.frombuffer(value.encode("ascii"), dtype=np.uint8)
    model.buffers.append(buf)
    entry = schema.MetadataT()
    entry.name = key
    entry.buffer = len(model.buffers) - 1
    model.metadata = [*(model.metadata or []), entry]
    fd, tmp = tempfile.mkstemp(dir=dst.parent, suffix=".tmp")
    os.close(fd)
    try:
        flatbuffer_utils.write_model(model, tmp)
        os.replace(tmp, dst)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def read_metadata(path: Path) -> dict[str, bytes]:
    """A model's metadata entries (name -> buffer bytes)."""
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(path))
    out = {}
    for m in model.metadata or []:
        name = m.name.decode() if isinstance(m.name, bytes) else m.name
        data = model.buffers[m.buffer].data
        out[name] = bytes(data) if data is not None else b""
    return out


def derive(spec: DerivedSpec, source: Path, directory: Path) -> Path:
    """Derive (or keep, if it verifies) one model; ModelError if the result is not the pinned file."""
    path = directory / spec.file
    if path.is_file() and sha256_of(path) == spec.sha256:
        return path
    with_metadata(source, path, spec.metadata_key, spec.metadata_value)
    digest = sha256_of(path)
    if digest != spec.sha256:
        path.unlink()
        raise ModelError(f"{spec.file}: derived sha256 {digest[:12]}... is not the manifest's {spec.sha256[:12]}... "
                         "(another TFLite schema writer?); the float model stays in use")
    log.info("model %s derived from %s and verified (%s)", spec.file, source.name, digest[:12])
    return path


def wants_fp16(precision: str, machine: str | None = None) -> bool:
    """`vision.landmark_precision`: 'fp16' always, 'fp32' never, 'auto' on 64-bit ARM (where XNNPACK
    computes in fp16 when hinted; elsewhere the hint changes nothing)."""
    if precision == "fp16":
        return True
    if precision == "fp32":
        return False
    return (machine or platform.machine()).lower() in ARM64
