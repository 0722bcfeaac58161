"""What this kernel has started, by name, so re-running a cell replaces instead of piling up."""

from __future__ import annotations

import atexit
import gc
import re
import threading
from types import TracebackType
from typing import Protocol, TypeVar

from ._errors import WorkbookError

H = TypeVar("H", bound="Handle")


class Stoppable(Protocol):
    def stop(self) -> None: ...


class Handle:
    """What every handle offers besides `.stop()`: `with wb.serve(app) as api:` stops it at
    the end of the block, an error or not."""

    def stop(self) -> None:
        raise NotImplementedError

    def _release(self) -> None:
        """What every stop ends with (subclasses add theirs and call super): the name goes."""
        forget(self)

    def __enter__(self: H) -> H:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


REDIS = "redis"  # the key of the kernel's own Redis (wb.start_redis() without a name)
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


def under(prefix: str) -> list[Stoppable]:
    """What runs under keys that start with `prefix` ("worker rq ": every RQ worker)."""
    with _lock:
        return [handle for key, handle in _running.items() if key.startswith(prefix)]


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


class StopFailed(WorkbookError):
    """Some handles did not stop; the rest did. `.stopped` is the whole report."""

    def __init__(self, stopped: list[str], failures: list[str]) -> None:
        self.stopped = Stopped(stopped)
        super().__init__(
            f"{len(failures)} of {len(stopped)} did not stop cleanly (the rest did):\n    "
            + "\n    ".join(failures),
            "read each error above; a thread that does not end (a task that never returns)"
            " goes only with the kernel: restart it (Kernel > Restart).",
        )


def stop_all() -> Stopped:
    """Stop everything this kernel started: workers first, then servers, then Redis.

    Returns one line per thing stopped, which a notebook shows. When a stop fails, the
    rest are stopped all the same, then one WorkbookError names each failure.
    """
    stopped = _stop_everything()
    failures = [line for line in stopped if " (stop failed: " in line]
    if failures:
        raise StopFailed(stopped, failures)
    return Stopped(stopped)


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
        except Exception as exc:  # stop the rest first; stop_all() then names each failure
            label += f" (stop failed: {type(exc).__name__}: {_first_line(exc)})"
        stopped.append(label)
    return stopped


def _running_now(handle: Stoppable) -> bool:
    """Whether a process (or Redis) is still up; a thread handle without alive() counts as up."""
    alive = getattr(handle, "alive", None)
    try:
        return bool(alive()) if callable(alive) else True
    except Exception:
        return True


def _first_line(error: Exception) -> str:
    return (str(error).splitlines() or [""])[0]


def _label(handle: Stoppable) -> str:
    """ "celery worker app_snippets.x:app pid 123" from the handle's repr, before it stops."""
    try:
        text = repr(handle)
    except Exception:  # a broken handle still gets stopped and named
        text = type(handle).__name__
    return re.sub(r"\s*\(?(running|stopped)\)?$", "", text.strip("<>"))


atexit.register(_stop_everything)
