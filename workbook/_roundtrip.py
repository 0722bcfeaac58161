"""One task through Celery, RQ or Dramatiq to a running worker, timed: what the doctor, the
tests, notebook 00 and the benchmark each call "the round trip"."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from . import _registry
from ._errors import WorkbookError
from ._waiting import WaitTimeout, wait_for
from ._workers import key


@dataclass(frozen=True)
class Trip:
    """What one round trip measured: which library, what came back, and how long it took
    from sending the task to holding its result."""

    library: str
    result: Any
    seconds: float


def round_trip(task: Any, *args: Any, queue: Any = None, timeout: float = 10.0) -> Trip:
    """Send `task(*args)` to its running worker and wait up to `timeout` s for the result.

    `task` is a Celery task, a Dramatiq actor (with the Results middleware), or, with
    `queue=` an rq.Queue, the function (or its dotted path) an RQ worker runs. A task that
    raised raises here; no result in time is a WorkbookError naming the missing worker.
    """
    library = _library(task, queue)
    started = time.perf_counter()
    try:
        result = _SEND[library](task, args, queue, timeout)
    except _timeouts() as exc:
        raise _no_result(library, task, timeout, exc) from None
    return Trip(library, result, time.perf_counter() - started)


def _no_result(library: str, task: Any, timeout: float, exc: BaseException) -> WorkbookError:
    """The error for a task nobody answered: with this kernel's running workers of that
    library named and their last log lines, which usually say why (another queue, another
    Redis, a crash in the task)."""
    what = f"No result from the {library} task {_name(task)} within {timeout:g} s ({exc})."
    workers = _registry.under(key(library, ""))
    if not workers:
        return WorkbookError(
            what,
            f"start a {library} worker for it first (wb.{library}_worker(...)), on the same"
            " Redis, and read its .logs().",
        )
    logs = "\n".join(f"{h!r}:\n{h.logs(8)}" for h in workers if hasattr(h, "logs"))
    return WorkbookError(
        what,
        f"{len(workers)} {library} worker(s) run ({', '.join(map(repr, workers))}): check"
        " that one listens on the task's queue and the same Redis; their log lines follow.",
        logs,
    )


def _library(task: Any, queue: Any) -> str:
    if queue is not None:
        return "rq"
    if hasattr(task, "send") and hasattr(task, "actor_name"):
        return "dramatiq"
    if hasattr(task, "delay") and hasattr(task, "apply_async"):
        return "celery"
    raise WorkbookError(
        f"round_trip() cannot send {task!r}.",
        "pass a Celery task, a Dramatiq actor, or an RQ job function with queue=rq.Queue(...).",
    )


def _celery(task: Any, args: tuple, queue: Any, timeout: float) -> Any:
    return task.delay(*args).get(timeout=timeout)


def _dramatiq(task: Any, args: tuple, queue: Any, timeout: float) -> Any:
    from dramatiq.results import Results

    # The actor's own broker's backend: without one, dramatiq asks the global broker.
    backends = [m.backend for m in task.broker.middleware if isinstance(m, Results)]
    message = task.send(*args)
    return message.get_result(
        backend=backends[0] if backends else None, block=True, timeout=int(timeout * 1000)
    )


def _rq(task: Any, args: tuple, queue: Any, timeout: float) -> Any:
    job = queue.enqueue(task, *args)
    status = wait_for(
        lambda: job.get_status(refresh=True) in ("finished", "failed") and job.get_status(),
        timeout,
        limit=timeout,
        poll=0.005,
    )
    if status == "failed":
        result = job.latest_result()
        raise WorkbookError(
            f"The RQ job {job.func_name} failed.",
            "read the job's error below.",
            result.exc_string if result is not None else "",
        )
    return job.return_value()


_SEND = {"celery": _celery, "dramatiq": _dramatiq, "rq": _rq}


def _timeouts() -> tuple[type[BaseException], ...]:
    """The libraries' own "no result in time" errors (imported only when one is needed)."""
    found: list[type[BaseException]] = [WaitTimeout]
    try:
        from celery.exceptions import TimeoutError as CeleryTimeout

        found.append(CeleryTimeout)
    except ImportError:
        pass
    try:
        from dramatiq.results import ResultTimeout

        found.append(ResultTimeout)
    except ImportError:
        pass
    return tuple(found)


def _name(task: Any) -> str:
    for attr in ("name", "actor_name", "__qualname__"):
        if isinstance(getattr(task, attr, None), str):
            return getattr(task, attr)
    return str(task)
