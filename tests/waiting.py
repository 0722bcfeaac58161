"""Polling and timing helpers shared by the tests: wait for a condition, never a fixed sleep."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(condition: Callable[[], object], timeout: float = 10, poll: float = 0.01) -> object:
    """The condition's first truthy value; fails the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(poll)
    return result


def timed(call: Callable[[], object]) -> float:
    """Seconds a call took."""
    started = time.perf_counter()
    call()
    return time.perf_counter() - started
