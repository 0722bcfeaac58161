"""What this kernel has started, by name, so re-running a cell replaces instead of piling up."""

from __future__ import annotations

import atexit
import gc
import re
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


class Stopped(list):
    """What stop_all() stopped, one line each; shown as a short report at the end of a cell."""

    def __repr__(self) -> str:
        if not self:
            return "Nothing was running: this kernel had started no server, worker or Redis."
        return "\n  ".join([f"Stopped {len(self)}:", *self])

    def _repr_pretty_(self, printer, cycle: bool) -> None:  # IPython shows lists its own way
        printer.text(repr(self))


def stop_all() -> Stopped:
    """Stop everything this kernel started: workers first, then servers, then Redis.

    Returns one line per thing stopped (a failed stop says so), which a notebook shows.
    """
    return Stopped(_stop_everything())


def _stop_everything() -> list[str]:
    with _lock:
        handles = list(_running.values())
        _running.clear()
    order = {"worker": 0, "server": 1, "redis": 2}
    handles.sort(key=lambda h: order.get(getattr(h, "kind", ""), 1))
    stopped = []
    for handle in handles:
        label = _label(handle)
        if not _running_now(handle):
            label += " (had already stopped)"
        if getattr(handle, "kind", "") == "redis":
            # A discarded celery AsyncResult talks to Redis when it is freed; with Redis
            # gone it would retry for about 19 s. Free such objects while Redis still runs.
            gc.collect()
        try:
            handle.stop()
        except Exception as exc:  # stop the rest anyway; say which one failed
            label += f" (stop failed: {type(exc).__name__}: {exc})"
        stopped.append(label)
    return stopped


def _running_now(handle: Stoppable) -> bool:
    """Whether a process (or Redis) is still up; a thread handle without alive() counts as up."""
    alive = getattr(handle, "alive", None)
    try:
        return bool(alive()) if callable(alive) else True
    except Exception:
        return True


def _label(handle: Stoppable) -> str:
    """ "celery worker app_snippets.x:app pid 123" from the handle's repr, before it stops."""
    try:
        text = repr(handle)
    except Exception:  # a broken handle still gets stopped and named
        text = type(handle).__name__
    return re.sub(r"\s*\(?(running|stopped)\)?$", "", text.strip("<>"))


atexit.register(_stop_everything)
