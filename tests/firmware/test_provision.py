"""firmware/provision.sh in a throwaway debootstrapped Debian root, never on this machine.

The root is the one the boot test uses (tests/boot/rootfs.py: bookworm minbase with
passwd, systemd and the image stage's Debian packages), built once and cached as a
tarball under ~/.cache/microexpr-test/.
"""

from __future__ import annotations

import re
import shutil
import stat
import subprocess
import tomllib
from pathlib import Path

import pytest

from boot.rootfs import build_rootfs, unpack
from edge.config import load_config

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def rootfs_tar() -> Path:
    return build_rootfs()


def make_root(tar: Path, root: Path) -> Path:
    """A fresh root with the image's microexpr files in place (what build-image.sh installs)."""
    unpack(tar, root)
    for sub in ("firmware", "systemd"):
        shutil.copytree(ROOT / sub, root / "opt" / "microexpr" / sub)
    (root / "boot" / "firmware").mkdir(parents=True)
    return root


@pytest.fixture
def chroot(rootfs_tar, tmp_path) -> Path:
    root = make_root(rootfs_tar, tmp_path / "root")
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def pristine_chroot(rootfs_tar, tmp_path_factory) -> Path:
    """One root shared by the tests that must leave it unchanged (each asserts it did)."""
    root = make_root(rootfs_tar, tmp_path_factory.mktemp("pristine") / "root")
    yield root
    shutil.rmtree(root, ignore_errors=True)


def run_in(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["chroot", str(root), "/bin/bash", "/opt/microexpr/firmware/provision.sh", *args],
                          capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"})


def pem_pair(d: Path) -> tuple[Path, Path]:
    key, crt = d / "client.key", d / "client.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(crt), "-days", "30", "-subj", "/CN=room-12"], check=True, capture_output=True)
    return key, crt


def test_provisioning_writes_the_expected_configuration(chroot):
    boot = chroot / "boot" / "firmware"
    key, crt = pem_pair(boot)
    shutil.copy(crt, boot / "ca.crt")
    (boot / "microexpr-provision.conf").write_text(
        "# written by the facilities team\r\n"
        "DEVICE_ID=room-12\n"
        'SITE="Head \\"office\\" A"\n'
        "ROOM = Interview room 12\n"
        "MQTT_URL=mqtts://broker.example.org:8883\n"
        "MQTT_USERNAME=room-12\n"
        "MQTT_PASSWORD=-n s3cr3t with spaces\n"
        "MQTT_CA=ca.crt\nMQTT_CERT=client.crt\nMQTT_KEY=client.key\n"
        "DASHBOARD_PASSWORD=dash-pass\n"
    )
    r = run_in(chroot)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "unit room-12 provisioned" in r.stdout
    etc = chroot / "etc" / "microexpr"
    conf = tomllib.loads((etc / "config.toml").read_text())
    assert conf["device"] == {"id": "room-12", "site": 'Head \\"office\\" A', "room": "Interview room 12",
                              "data_dir": "/var/lib/microexpr"}
    assert conf["mqtt"]["url"] == "mqtts://broker.example.org:8883" and "password" not in conf["mqtt"]
    assert conf["mqtt"]["ca_file"] == "/etc/microexpr/tls/ca.crt"
    assert conf["source"]["kind"] == "picamera2" and conf["gpio"]["enabled"] is True
    assert conf["clips"]["publish"] is False
    # The project's own strict loader accepts it, and finds the password as systemd would hand it over.
    creds = etc / "credentials"
    cfg = load_config(etc / "config.toml", environ={"CREDENTIALS_DIRECTORY": str(creds)})
    assert cfg.device_id == "room-12" and cfg.mqtt.password == "-n s3cr3t with spaces"
    assert cfg.mqtt.username == "room-12" and cfg.data_dir == Path("/var/lib/microexpr")
    assert (creds / "dashboard_password").read_text() == "dash-pass"
    for f in creds.iterdir():
        st = f.stat()
        assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == 0, f
    assert stat.S_IMODE(creds.stat().st_mode) == 0o700
    assert (etc / "tls" / "ca.crt").read_bytes() == crt.read_bytes()
    assert stat.S_IMODE((etc / "tls" / "client.key").stat().st_mode) == 0o640
    # user, groups, host name, units
    passwd = (chroot / "etc" / "passwd").read_text()
    m = re.search(r"^microexpr:x:(\d+):(\d+):", passwd, re.M)
    assert m and int(m.group(1)) < 1000  # a system user
    group = (chroot / "etc" / "group").read_text()
    assert re.search(r"^video:x:\d+:.*\bmicroexpr\b", group, re.M)
    assert re.search(r"^gpio:x:\d+:.*\bmicroexpr\b", group, re.M)
    assert stat.S_IMODE((etc / "config.toml").stat().st_mode) == 0o640
    gid = int(m.group(2))
    assert (etc / "config.toml").stat().st_gid == gid
    assert (chroot / "var/lib/microexpr").stat().st_uid == int(m.group(1))
    assert (chroot / "etc" / "hostname").read_text().strip() == "room-12"
    assert "room-12" in (chroot / "etc" / "hosts").read_text()
    wants = chroot / "etc/systemd/system/multi-user.target.wants"
    for unit in ("microexpr.service", "microexpr-dashboard.service"):
        assert (wants / unit).is_symlink(), unit
        assert (chroot / "etc/systemd/system" / unit).read_text() == (ROOT / "systemd" / unit).read_text()
    # secrets gone from the FAT boot partition; a secret-free summary left
    assert not (boot / "microexpr-provision.conf").exists() and not (boot / "client.key").exists()
    summary = (boot / "microexpr-provisioned.txt").read_text()
    assert "DEVICE_ID=room-12" in summary and "s3cr3t" not in summary and "dash-pass" not in summary
    # a second boot without a provisioning file changes nothing
    before = (etc / "config.toml").read_bytes()
    again = run_in(chroot)
    assert again.returncode == 0 and "already provisioned" in again.stdout
    assert (etc / "config.toml").read_bytes() == before


@pytest.mark.parametrize("content, message", [
    ("DEVICE_ID=room/12\n", "DEVICE_ID: 1-63 letters"),
    ("DEVICE_ID=r1\nMQTT_URL=http://broker\n", "MQTT_URL: expected mqtt://"),
    ("DEVICE_ID=r1\nMQTT_URL=mqtt://user:pw@broker\n", "without credentials"),
    ("DEVICE_ID=r1\nMQTT_URL=mqtts://b\nMQTT_CA=missing.crt\n", "MQTT_CA: file missing.crt not found"),
    ("DEVICE_ID=r1\nCOLOUR=blue\n", "unknown key COLOUR"),
    ("DEVICE_ID=r1\nthis is not a pair\n", ":2: expected KEY=VALUE"),
    ("DEVICE_ID=r1\nGPIO_ENABLED=maybe\n", "GPIO_ENABLED: true or false"),
])
def test_bad_provisioning_files_fail_with_one_line_and_change_nothing(pristine_chroot, content, message):
    chroot = pristine_chroot
    boot = chroot / "boot" / "firmware"
    (boot / "microexpr-provision.conf").write_text(content)
    passwd = (chroot / "etc" / "passwd").read_text()
    r = run_in(chroot)
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.count("\n") == 1 and message in r.stderr, r.stderr
    assert not (chroot / "etc" / "microexpr").exists()
    assert (chroot / "etc" / "passwd").read_text() == passwd
    assert (boot / "microexpr-provision.conf").exists()  # kept for the operator to fix
    (boot / "microexpr-provision.conf").unlink()


def test_no_file_and_never_provisioned_is_an_error(pristine_chroot):
    r = run_in(pristine_chroot)
    assert r.returncode == 2 and "no provisioning file" in r.stderr
