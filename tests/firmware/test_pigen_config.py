"""The pi-gen config that firmware/build-image.sh writes passes pi-gen's own checks.

pigen/build-checks.sh is pi-gen's build.sh (vendored excerpt, commit named in it): it
sources our config exactly as pi-gen does and runs pi-gen's code on it.
"""

from __future__ import annotations

import subprocess
import tarfile
import tomllib
from pathlib import Path

import pytest

from boot.image import TEST_KEY, stage_pigen

ROOT = Path(__file__).resolve().parents[2]
CHECKS = Path(__file__).parent / "pigen" / "build-checks.sh"


@pytest.fixture(scope="module", params=["bookworm", "trixie"])
def staged(request, tmp_path_factory) -> tuple[str, Path]:
    return request.param, stage_pigen(tmp_path_factory.mktemp(request.param) / "pi-gen", request.param)


def pigen_checks(pigen: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(CHECKS)], cwd=pigen, capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin"})


def checked(out: str) -> dict[str, str]:
    return dict(line.removeprefix("checked ").split("=", 1) for line in out.splitlines()
                if line.startswith("checked "))


def test_pi_gen_accepts_our_config(staged):
    release, pigen = staged
    r = pigen_checks(pigen)
    assert r.returncode == 0, r.stdout + r.stderr
    v = checked(r.stdout)
    assert v["RELEASE"] == release and v["IMG_NAME"] == f"microexpr-{release}"
    assert v["FIRST_USER_NAME"] == "technician" and v["DISABLE_FIRST_BOOT_USER_RENAME"] == "1"
    assert v["FIRST_USER_PASS_SET"] == "1"
    assert v["ENABLE_SSH"] == "1" and v["PUBKEY_ONLY_SSH"] == "1" and v["PUBKEY_SSH_FIRST_USER"] == TEST_KEY


def test_pi_gen_refuses_the_config_of_f2b78b9(tmp_path):
    """The checks bite: the config build-image.sh wrote before this fix stops pi-gen."""
    (tmp_path / "config").write_text(
        "IMG_NAME=microexpr-bookworm\nRELEASE=bookworm\nFIRST_USER_NAME=operator\n"
        "DISABLE_FIRST_BOOT_USER_RENAME=1\nENABLE_SSH=1\nPUBKEY_ONLY_SSH=1\n")
    r = pigen_checks(tmp_path)
    assert r.returncode == 1 and "FIRST_USER_PASS needs to be set" in r.stdout, r.stdout + r.stderr


def test_runtime_extras_per_release_exist(staged):
    release, pigen = staged
    extras = (pigen / "stage-microexpr/00-install/files/extras").read_text().strip()
    assert extras == {"bookworm": "pi,tflite", "trixie": "pi,litert"}[release]
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(extras.split(",")) <= set(declared)


def test_weights_are_not_staged_but_fetched_in_the_build(staged):
    _, pigen = staged
    models = pigen / "stage-microexpr/00-install/files/models"
    assert (models / "manifest.toml").is_file() and not list(models.glob("*.tflite"))
    chroot = (pigen / "stage-microexpr/00-install/02-run-chroot.sh").read_text()
    assert chroot.index("models fetch") < chroot.index("models list")


def test_build_image_needs_a_key_and_names_it(tmp_path):
    r = subprocess.run(["bash", str(ROOT / "firmware/build-image.sh"), "--stage", "bookworm", str(tmp_path)],
                       capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}, timeout=60)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "SSH_PUBKEY" in r.stderr, r.stderr


@pytest.mark.slow
def test_first_user_is_free_in_debian(staged):
    """pi-gen creates the first user with adduser, which fails on an existing user or group."""
    from boot.rootfs import build_rootfs

    _, pigen = staged
    name = checked(pigen_checks(pigen).stdout)["FIRST_USER_NAME"]
    with tarfile.open(build_rootfs("amd64")) as tar:
        taken = set()
        for member in ("./etc/passwd", "./etc/group"):
            taken |= {line.split(":", 1)[0] for line in tar.extractfile(member).read().decode().splitlines()}
    assert "operator" in taken  # the name f2b78b9 used
    assert name not in taken | {"microexpr"}, name
