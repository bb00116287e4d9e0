"""The boot tests need root, systemd-nspawn and debootstrap: a missing one is a failure, not a skip."""

from __future__ import annotations

import os
import shutil

import pytest


@pytest.fixture(scope="session")
def boot_host() -> None:
    assert os.geteuid() == 0, "the boot tests run as root (debootstrap, systemd-nspawn)"
    for tool in ("systemd-nspawn", "debootstrap", "nsenter"):
        assert shutil.which(tool), f"{tool} missing: make system-deps (scripts/system-deps.txt)"
