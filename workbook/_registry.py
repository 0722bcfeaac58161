"""What this kernel has started, by name, so re-running a cell replaces instead of piling up."""

from __future__ import annotations

import atexit
import contextlib
import gc
import threading
from typing import Protocol


class Stoppable(Protocol):
    def stop(self) -> None: ...


_lock = threading.RLock()
_running: dict[str, Stoppable] = {}


def replace(key: str, start: callable) -> Stoppable:  # type: ignore[valid-type]
    """Stop whatever runs under `key`, then start and remember its successor."""
    with _lock:
        old = _running.pop(key, None)
        if old is not None:
            old.stop()
        handle = start()
        _running[key] = handle
        return handle


def get(key: str) -> Stoppable | None:
    with _lock:
        return _running.get(key)


def handles() -> list[Stoppable]:
    """Everything this kernel runs now."""
    with _lock:
        return list(_running.values())


def put(key: str, handle: Stoppable) -> None:
    with _lock:
        _running[key] = handle


def forget(handle: Stoppable) -> None:
    with _lock:
        for key, value in list(_running.items()):
            if value is handle:
                del _running[key]


def stop_all() -> None:
    """Stop everything this kernel started: workers first, then servers, then Redis."""
    with _lock:
        handles = list(_running.values())
        _running.clear()
    order = {"worker": 0, "server": 1, "redis": 2}
    handles.sort(key=lambda h: order.get(getattr(h, "kind", ""), 1))
    for handle in handles:
        if getattr(handle, "kind", "") == "redis":
            # A discarded celery AsyncResult talks to Redis when it is freed; with Redis
            # gone it would retry for about 19 s. Free such objects while Redis still runs.
            gc.collect()
        with contextlib.suppress(Exception):
            handle.stop()


atexit.register(stop_all)
