"""sd_notify over a real unix datagram socket, as systemd would read it."""

from __future__ import annotations

import os
import socket

import pytest

from edge.device.notify import SystemdNotifier


@pytest.fixture
def notify_socket(tmp_path):
    path = tmp_path / "notify.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(str(path))
    s.settimeout(2)
    yield path, s
    s.close()


def test_ready_watchdog_status_stopping_reach_the_socket(notify_socket):
    path, s = notify_socket
    n = SystemdNotifier({"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "3000000", "WATCHDOG_PID": str(os.getpid())})
    assert n.enabled and n.watchdog_interval_s == 3.0
    assert n.ready("analysing camera")
    assert s.recv(4096) == b"READY=1\nSTATUS=analysing camera"
    assert n.watchdog()
    assert s.recv(4096) == b"WATCHDOG=1"
    assert n.status("two\nlines")
    assert s.recv(4096) == b"STATUS=two lines"
    assert n.stopping()
    assert s.recv(4096) == b"STOPPING=1"
    n.close()


def test_abstract_namespace_socket():
    name = f"microexpr-test-{os.getpid()}"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind("\0" + name)
    s.settimeout(2)
    try:
        n = SystemdNotifier({"NOTIFY_SOCKET": "@" + name})
        assert n.ready()
        assert s.recv(100) == b"READY=1"
    finally:
        s.close()


def test_without_systemd_nothing_is_sent_and_nothing_fails(tmp_path):
    n = SystemdNotifier({})
    assert not n.enabled and n.watchdog_interval_s is None
    assert n.ready() is False and n.watchdog() is False
    gone = SystemdNotifier({"NOTIFY_SOCKET": str(tmp_path / "nobody-listens")})
    assert gone.enabled and gone.watchdog() is False  # logged, not raised


def test_watchdog_meant_for_another_process_is_ignored():
    assert SystemdNotifier({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "1"}).watchdog_interval_s is None
    assert SystemdNotifier({"WATCHDOG_USEC": "0"}).watchdog_interval_s is None
    assert SystemdNotifier({"WATCHDOG_USEC": "2500000"}).watchdog_interval_s == 2.5
