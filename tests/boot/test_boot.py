"""Boot the image's root under systemd and run the unchanged microexpr.service in it.

A Debian Bookworm root (tests/boot/rootfs.py, shared with the provisioning test)
gets our pi-gen stage exactly as the image build runs it, is provisioned by
firmware/provision.sh with GPIO on, and is booted by `systemd-nspawn -b`. The
service must reach READY, feed its watchdog, publish events from a replayed video
to a Mosquitto on loopback, come back after SIGKILL (Last Will `offline`, then
`online`) and stop cleanly. Two drop-ins are the test's only additions to the
unit: gpiozero's mock pins, named explicitly (there is no GPIO chip in a
container), and an `ExecStartPre=` that imports lgpio in the unit's own sandbox,
which is what the lgpio pin factory does first on a Pi (lgpio makes its
notification FIFO in the working directory). The camera is replaced by the
replayed file in the provisioned config.

Run by `make test-boot` (root). Debian roots and wheels are cached under
~/.cache/microexpr-test/.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from boot import image, rootfs
from fixtures.broker import Broker, Subscriber, free_port

DEVICE = "boot-test"
CLIP = "/srv/microexpr-test/replay.mp4"
UNIT = "microexpr.service"
PREFIX = f"microexpr/{DEVICE}"

# A first run also makes the amd64 root (about 2 min); the boot itself takes about 1.5.
pytestmark = pytest.mark.timeout(1200)

PIN_DROPIN = """\
# The boot test's additions to the unchanged unit (tests/boot/test_boot.py).
[Service]
# No GPIO chip in a container: gpiozero's mock pins, chosen by name (edge/device/controls.py).
Environment=GPIOZERO_PIN_FACTORY=mock
# What the lgpio pin factory does first on a Pi: import lgpio, which makes its
# notification FIFO in the working directory. Run in the unit's own sandbox.
ExecStartPre=/opt/microexpr/venv/bin/python -c "import lgpio"
"""
# Not under test here, and it would listen on 127.0.0.1:8080 in this machine's network namespace.
DASHBOARD_DROPIN = "[Unit]\nConditionPathExists=/nonexistent/boot-test\n"


@pytest.fixture(scope="module")
def installed_root(boot_host, tmp_path_factory) -> Path:
    """A fresh amd64 root with the image's stage installed (about a minute once the caches exist)."""
    work = tmp_path_factory.mktemp("boot")
    pigen = image.stage_pigen(work / "pi-gen", "bookworm")
    image.seed_model_cache(pigen)
    house = image.wheelhouse(pigen, "amd64")
    root = rootfs.unpack(rootfs.build_rootfs("amd64"), work / "root")
    image.install_stage(root, pigen, house)
    yield root
    shutil.rmtree(work, ignore_errors=True)


def provision(root: Path, broker_url: str, clip: Path, unit_dir: Path | None = None) -> None:
    """provision.sh as on a first boot, then the replayed file instead of the camera."""
    boot = root / "boot" / "firmware"
    (boot / "microexpr-provision.conf").write_text(
        f"DEVICE_ID={DEVICE}\nSITE=Test bench\nROOM=nspawn\nMQTT_URL={broker_url}\n"
        "DASHBOARD_PASSWORD=boot-test-pass\nGPIO_ENABLED=true\n")
    r = image.in_root(root, "/opt/microexpr/firmware/provision.sh\n", timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    conf = root / "etc/microexpr/config.toml"
    text = conf.read_text()
    assert 'kind = "picamera2"' in text and "enabled = true" in text, text
    conf.write_text(text.replace('kind = "picamera2"', f'kind = "video"\npath = "{CLIP}"'))
    (root / CLIP.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(clip, root / CLIP.lstrip("/"))
    (root / CLIP.lstrip("/")).chmod(0o644)
    if unit_dir is not None:  # the fault-injection check: a unit file other than systemd/'s
        shutil.copy(unit_dir / UNIT, root / "etc/systemd/system" / UNIT)
    for unit, text in ((UNIT, PIN_DROPIN), ("microexpr-dashboard.service", DASHBOARD_DROPIN)):
        d = root / "etc/systemd/system" / f"{unit}.d"
        d.mkdir(exist_ok=True)
        (d / "boot-test.conf").write_text(text)


@dataclass
class Machine:
    """A booted container; `systemctl` and friends run inside it through nsenter."""

    root: Path
    proc: subprocess.Popen
    log: Path

    def leader(self) -> int:
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            kids = (task / "children").read_text().split()
            if kids:
                return int(kids[0])
        raise AssertionError(f"systemd-nspawn has no container yet:\n{self.console()}")

    def run(self, *cmd: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(["nsenter", "-t", str(self.leader()), "-m", "-u", "-i", "-n", "-p", "-r", "-w", *cmd],
                              capture_output=True, text=True, timeout=timeout)

    def show(self, unit: str = UNIT) -> dict[str, str]:
        props = "ActiveState,SubState,Result,NRestarts,MainPID,ExecMainStatus,StatusText,WatchdogUSec," \
                "WatchdogTimestampMonotonic,WorkingDirectory"
        r = self.run("systemctl", "show", unit, f"--property={props}")
        return dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)

    def journal(self, unit: str = UNIT, lines: int = 60) -> str:
        return self.run("journalctl", "-b", "-u", unit, "--no-pager", "-n", str(lines)).stdout

    def console(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""

    def wait(self, predicate, timeout: float, what: str, step: float = 0.5) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        state: dict[str, str] = {}
        while time.monotonic() < deadline:
            state = self.show()
            if predicate(state):
                return state
            time.sleep(step)
        raise AssertionError(f"{what} within {timeout:g} s; last state {state}\n--- journal ---\n{self.journal()}")


def boot(root: Path, log: Path) -> Machine:
    proc = subprocess.Popen(["systemd-nspawn", "--register=no", "--keep-unit", "-D", str(root), "-b",
                             "--console=read-only"], stdout=log.open("w"), stderr=subprocess.STDOUT)
    m = Machine(root, proc, log)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the container exited:\n{m.console()}"
        try:
            state = m.run("systemctl", "is-system-running", timeout=10).stdout.strip()
        except (AssertionError, subprocess.TimeoutExpired):
            state = ""
        if state in ("starting", "running", "degraded"):  # systemd answers; the unit is judged on its own
            return m
        time.sleep(1)
    raise AssertionError(f"systemd in the container did not come up:\n{m.console()}")


def shutdown(m: Machine) -> None:
    if m.proc.poll() is None:
        m.proc.send_signal(signal.SIGTERM)  # nspawn asks the container's systemd to power off
        try:
            m.proc.wait(90)
        except subprocess.TimeoutExpired:
            m.proc.kill()
            m.proc.wait()


def statuses(sub: Subscriber) -> list[str]:
    return [p.decode() for p in sub.payloads(f"{PREFIX}/status")]


@contextmanager
def run_unit(installed_root: Path, clip: Path, tmp_path: Path, unit_dir: Path | None = None):
    """Broker, provisioning, boot; yields (machine, subscriber). Everything is stopped after."""
    broker = Broker(workdir=tmp_path, port=free_port())
    broker.start()
    sub = None
    m = None
    try:
        sub = Subscriber(broker, [f"{PREFIX}/#"], client_id="boot-test-watcher")
        provision(installed_root, broker.url, clip, unit_dir)
        m = boot(installed_root, tmp_path / "console.log")
        yield m, sub
    finally:
        if m is not None:
            shutdown(m)
        if sub is not None:
            sub.close()
        broker.stop()


@pytest.fixture
def replay_clip(synth_expressions_clip) -> Path:
    """16 s at 60 fps with 4 micro and 1 macro expression: events to publish."""
    return synth_expressions_clip.video


def test_unit_boots_publishes_survives_sigkill_and_stops(installed_root, replay_clip, tmp_path):
    # MICROEXPR_BOOT_UNIT_DIR: boot a changed copy of systemd/ instead, to see this test fail.
    unit_dir = os.environ.get("MICROEXPR_BOOT_UNIT_DIR")
    with run_unit(installed_root, replay_clip, tmp_path, Path(unit_dir) if unit_dir else None) as (m, sub):
        # READY: a Type=notify unit is "active" only once READY=1 arrived.
        state = m.wait(lambda s: s.get("ActiveState") == "active" or s.get("ActiveState") == "failed"
                       or s.get("NRestarts", "0") != "0", 240, "READY")
        assert state["ActiveState"] == "active" and state["NRestarts"] == "0", f"{state}\n{m.journal()}"
        started = time.monotonic()
        pid = state["MainPID"]
        # It runs where the unit says, and that directory is its own writable state directory.
        cwd = m.run("readlink", f"/proc/{pid}/cwd").stdout.strip()
        assert cwd == "/var/lib/microexpr", cwd
        assert "GPIO pins are simulated" in m.journal(), "the mock pins were not the ones asked for"
        outbox = installed_root / "var/lib/microexpr/outbox.sqlite3"
        assert outbox.exists()

        # Events from the replayed file reach the broker.
        assert sub.wait_for(lambda s: "online" in statuses(s), 30), statuses(sub)
        assert sub.wait_for(lambda s: s.on(f"{PREFIX}/events"), 180), f"no event published\n{m.journal()}"
        event = json.loads(sub.on(f"{PREFIX}/events")[0].payload)
        assert event["device"] == DEVICE and event["video"] == Path(CLIP).name
        assert event["type"] in ("micro", "macro") and event["offset_frame"] >= event["onset_frame"]
        with sqlite3.connect(f"file:{outbox}?mode=ro", uri=True) as db:
            assert db.execute("select count(*) from events").fetchone()[0] >= 1

        # The watchdog (WatchdogSec=10) is fed: the timestamp moves and the unit outlives 10 s unfed.
        assert m.show()["WatchdogUSec"] == "10s"
        first = int(m.show()["WatchdogTimestampMonotonic"])
        time.sleep(2.5)
        assert int(m.show()["WatchdogTimestampMonotonic"]) > first
        time.sleep(max(0.0, 12 - (time.monotonic() - started)))
        state = m.show()
        assert state["NRestarts"] == "0" and state["MainPID"] == pid, f"{state}\n{m.journal()}"

        # SIGKILL of the main process: the broker sends the Last Will, systemd restarts the unit.
        before = len(statuses(sub))
        r = m.run("systemctl", "kill", "--kill-who=main", "--signal=SIGKILL", UNIT)
        assert r.returncode == 0, r.stderr
        assert sub.wait_for(lambda s: "offline" in statuses(s)[before:], 60), statuses(sub)
        state = m.wait(lambda s: s.get("NRestarts") == "1" and s.get("ActiveState") == "active", 240,
                       "back after SIGKILL")
        assert state["MainPID"] != pid
        after_will = before + statuses(sub)[before:].index("offline") + 1
        assert sub.wait_for(lambda s: "online" in statuses(s)[after_will:], 60), statuses(sub)

        # A clean stop: SIGTERM, the unit flushes, says offline and exits 0 within TimeoutStopSec.
        before = len(statuses(sub))
        t0 = time.monotonic()
        r = m.run("systemctl", "stop", UNIT, timeout=60)
        assert r.returncode == 0, r.stderr
        assert time.monotonic() - t0 < 10
        state = m.show()
        assert state["ActiveState"] == "inactive" and state["Result"] == "success", f"{state}\n{m.journal()}"
        assert state["ExecMainStatus"] == "0"
        assert sub.wait_for(lambda s: "offline" in statuses(s)[before:], 15), statuses(sub)
        assert "Watchdog timeout" not in m.journal(lines=400)
