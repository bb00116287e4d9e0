"""The firmware files the image build puts on the card: config.txt fragment, scripts, stage."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FW = ROOT / "firmware"


def settings(path: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "[")):
            k, _, v = line.partition("=")
            out.setdefault(k, []).append(v)
    return out


def test_config_txt_enables_camera_and_watchdog():
    s = settings(FW / "config.txt")
    assert s["camera_auto_detect"] == ["1"]
    assert "watchdog=on" in s["dtparam"]
    assert "disable-bt" in s["dtoverlay"]
    wd = (FW / "system.conf.d" / "microexpr-watchdog.conf").read_text()
    assert "RuntimeWatchdogSec=15" in wd


def test_scripts_parse():
    scripts = [FW / "provision.sh", FW / "build-image.sh", *FW.glob("pi-gen/**/*.sh")]
    assert len(scripts) >= 5
    for s in scripts:
        r = subprocess.run(["bash", "-n", str(s)], capture_output=True, text=True)
        assert r.returncode == 0, f"{s}: {r.stderr}"
        assert s.stat().st_mode & 0o111, f"{s} is not executable"


def test_stage_takes_picamera2_from_apt():
    """Debian has no picamera2, so the boot test cannot install it: the stage must ask apt for it.

    The venv's --system-site-packages (which picamera2 needs) is proven by the boot test,
    whose service imports apt's lgpio stand-in from the system site-packages.
    """
    packages = (FW / "pi-gen/stage-microexpr/00-install/00-packages").read_text().split()
    assert {"python3-picamera2", "python3-lgpio"} <= set(packages)
