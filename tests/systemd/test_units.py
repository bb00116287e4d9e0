"""The systemd units verify, the device unit's exposure score stays at most 2.5, and what a boot cannot show."""

from __future__ import annotations

import configparser
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "systemd"
INSTALLED_EXE = "/opt/microexpr/venv/bin/microexpr"
PROVISION = "/opt/microexpr/firmware/provision.sh"


def parse(unit: Path) -> dict[str, list[str]]:
    """Unit file as section.key -> every value (systemd keys repeat)."""
    out: dict[str, list[str]] = {}
    section = ""
    for raw in unit.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out.setdefault(f"{section}.{key.strip()}", []).append(value.strip())
    return out


@pytest.fixture(scope="module")
def staged(tmp_path_factory) -> Path:
    """The units with ExecStart pointing at a stub that exists (verify checks the binary)."""
    d = tmp_path_factory.mktemp("units")
    exe = d / "bin" / "microexpr"
    exe.parent.mkdir()
    exe.write_text("#!/bin/sh\nexit 0\n")
    exe.chmod(0o755)
    for unit in UNITS.glob("*.service"):
        text = unit.read_text()
        if unit.name == "microexpr-provision.service":
            assert PROVISION in text
            text = text.replace(PROVISION, str(exe))
        else:
            assert INSTALLED_EXE in text, f"{unit.name}: ExecStart is not the image's venv"
        (d / unit.name).write_text(text.replace(INSTALLED_EXE, str(exe)))
    return d


def test_units_verify(staged):
    units = sorted(str(p) for p in staged.glob("*.service"))
    assert len(units) == 3
    r = subprocess.run(["systemd-analyze", "verify", *units], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stderr.strip() == "", r.stderr


def exposure(unit: Path) -> float:
    r = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(unit)],
                       capture_output=True, text=True, timeout=120)
    m = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", r.stdout)
    assert m, r.stdout[-2000:] + r.stderr
    return float(m.group(1))


def test_device_unit_exposure_at_most_2_5(staged):
    score = exposure(staged / "microexpr.service")
    print(f"microexpr.service exposure {score}")
    assert score <= 2.5


def test_dashboard_unit_exposure(staged):
    assert exposure(staged / "microexpr-dashboard.service") <= 2.5


def test_device_unit_camera_gpio_and_secrets():
    """What the boot test (tests/boot/) cannot run in a container: devices, groups, credentials.

    READY, the watchdog, restarts, the clean stop, the state and working directory,
    the configuration and model paths are proven there by booting the unit.
    """
    u = parse(UNITS / "microexpr.service")
    assert "Service.PrivateDevices" not in u
    allowed = {v.split()[0] for v in u["Service.DeviceAllow"]}
    assert {"char-video4linux", "char-media", "char-dma_heap", "char-gpiochip"} <= allowed
    assert u["Service.DevicePolicy"] == ["closed"]
    assert set(u["Service.SupplementaryGroups"][0].split()) == {"video", "gpio"}
    assert u["Service.ProtectSystem"] == ["strict"]
    assert any(v.startswith("mqtt_password:") for v in u["Service.LoadCredential"])
    assert "PASSWORD" not in " ".join(u["Service.Environment"]).upper()


def test_dashboard_unit_is_loopback_only():
    u = parse(UNITS / "microexpr-dashboard.service")
    assert u["Service.IPAddressDeny"] == ["any"] and u["Service.IPAddressAllow"] == ["localhost"]
    assert u["Service.PrivateDevices"] == ["yes"]
    assert any(v.startswith("dashboard_password:") for v in u["Service.LoadCredential"])
    from edge.config import DashboardConfig

    assert DashboardConfig().listen.startswith("127.0.0.1:")


def test_unit_files_parse_as_ini():
    for unit in UNITS.glob("*.service"):
        cp = configparser.ConfigParser(strict=False, interpolation=None)
        cp.optionxform = str  # type: ignore[assignment]
        cp.read_string(unit.read_text())
        assert {"Unit", "Service", "Install"} <= set(cp.sections())


def test_provisioning_runs_once_before_the_unit():
    u = parse(UNITS / "microexpr-provision.service")
    assert u["Service.Type"] == ["oneshot"]
    assert "microexpr.service" in u["Unit.Before"][0]
    assert {v.lstrip("|") for v in u["Unit.ConditionPathExists"]} == {
        "/boot/firmware/microexpr-provision.conf", "/boot/microexpr-provision.conf"}
    assert (ROOT / PROVISION.removeprefix("/opt/microexpr/")).exists()
