"""Debian Bookworm roots for the firmware tests, made once with debootstrap and cached as tarballs.

One package list serves every test: provision.sh needs passwd and systemd, the
boot test what the image's stage takes from apt (firmware/pi-gen/.../00-packages)
less the two packages only Raspberry Pi OS has. arm64 roots are made through
qemu-user-static (binfmt); the tarballs live under ~/.cache/microexpr-test/ so a
rerun only unpacks them.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SUITE = "bookworm"
STAGE_PACKAGES = REPO / "firmware/pi-gen/stage-microexpr/00-install/00-packages"
# Raspberry Pi OS's own apt archive has these; Debian does not (the boot test uses lgpio's PyPI wheel instead).
RPI_ONLY = {"python3-picamera2", "python3-lgpio"}
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "microexpr-test"


def packages() -> list[str]:
    """passwd and systemd for provisioning and booting, plus the image stage's Debian packages."""
    stage = [p for p in STAGE_PACKAGES.read_text().split() if p not in RPI_ONLY]
    return ["passwd", "systemd", *stage]


def debian_mirror() -> str:
    """The Debian mirror apt on this machine uses (deb822 .sources or one-line sources.list)."""
    candidates = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for p in candidates:
        if not p.is_file() or p.name.endswith(".disabled-by-farm"):
            continue
        text = p.read_text(errors="replace")
        m = re.search(r"^URIs:\s*(\S+/debian)/?\s*$", text, re.M) or re.search(
            r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+/debian)/?\s+" + SUITE, text, re.M)
        if m:
            return m.group(1)
    raise AssertionError("no Debian mirror configured in /etc/apt/sources.list{,.d}")


def tarball_path(arch: str) -> Path:
    key = hashlib.sha256(",".join(packages()).encode()).hexdigest()[:10]
    return CACHE / f"{SUITE}-{arch}-minbase-{key}.tar"


def host_arch() -> str:
    return subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True, check=True).stdout.strip()


def check_binfmt(arch: str) -> None:
    """A foreign root needs the kernel to hand its binaries to qemu-user-static."""
    qemu = {"arm64": "aarch64", "armhf": "arm"}[arch]
    entry = Path("/proc/sys/fs/binfmt_misc") / f"qemu-{qemu}"
    if not entry.exists() or not entry.read_text().startswith("enabled"):
        raise AssertionError(f"binfmt for qemu-{qemu} is not enabled: run `make system-deps` as root")


def build_rootfs(arch: str | None = None) -> Path:
    """The cached tarball of a minbase root for `arch` (default: this machine's), made if missing."""
    arch = arch or host_arch()
    tar = tarball_path(arch)
    if tar.exists():
        return tar
    if arch != host_arch():
        check_binfmt(arch)
    CACHE.mkdir(parents=True, exist_ok=True)
    work = CACHE / f"build-{arch}"
    shutil.rmtree(work, ignore_errors=True)
    mirror = debian_mirror()
    cmd = ["nice", "-n", "10", "debootstrap", "--variant=minbase", f"--arch={arch}",
           f"--include={','.join(packages())}", SUITE, str(work), mirror]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    if r.returncode != 0:
        log = work / "debootstrap" / "debootstrap.log"
        detail = log.read_text()[-3000:] if log.exists() else ""
        raise AssertionError(f"debootstrap {arch} from {mirror} failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}\n{detail}")
    (work / "var/cache/apt/archives").mkdir(parents=True, exist_ok=True)
    for deb in (work / "var/cache/apt/archives").glob("*.deb"):
        deb.unlink()
    tmp = tar.with_suffix(".partial")
    subprocess.run(["tar", "-C", str(work), "--numeric-owner", "-cf", str(tmp), "."], check=True)
    tmp.rename(tar)
    shutil.rmtree(work, ignore_errors=True)
    return tar


def unpack(tar: Path, root: Path) -> Path:
    root.mkdir(parents=True)
    subprocess.run(["tar", "-C", str(root), "--numeric-owner", "-xf", str(tar)], check=True)
    return root
