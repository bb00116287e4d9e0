"""Shared fixtures. Each fixture family lives in tests/fixtures/<name>.py."""

from __future__ import annotations

import threading

import pytest

pytest_plugins = [
    "fixtures.broker",
    "fixtures.footage",
    "fixtures.postgres",
    "fixtures.browser",
    "fixtures.hil",
]


@pytest.fixture(autouse=True)
def fail_on_thread_exceptions():
    """Fail any test in which a thread or callback swallowed an exception.

    paho-mqtt runs callbacks on its network thread and uvicorn serves on its
    own; an exception there would otherwise pass unseen (Home Assistant's habit).
    """
    seen: list[threading.ExceptHookArgs] = []
    previous = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        seen.append(args)
        previous(args)

    threading.excepthook = hook
    try:
        yield seen
    finally:
        threading.excepthook = previous
    if seen:
        first = seen[0]
        pytest.fail(
            f"exception in thread {first.thread.name if first.thread else '?'}: "
            f"{first.exc_type.__name__}: {first.exc_value}",
            pytrace=False,
        )
