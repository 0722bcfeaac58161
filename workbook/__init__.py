"""The machinery that runs the workbook's teaching code live inside a Jupyter kernel.

A real Redis, real uvicorn servers and real Celery, RQ and Dramatiq workers, each started
with one call, replaced when a cell is re-run, and gone when the kernel goes away.

Each name is imported on first use (PEP 562): `workbook check` and a check's test process
then do not pay for Celery, FastAPI and the rest before they need them. Each reports
`workbook` as its module (as httpx's names do), so help() and tracebacks show the name a
learner typed, `workbook.WorkbookError`, not the private module that defines it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._celery import celery_worker
    from ._command import run_command
    from ._display import show
    from ._doctor import doctor
    from ._dramatiq import dramatiq_worker
    from ._errors import WorkbookError
    from ._exercises.notebook import exercise, exercises
    from ._expected import expect_error
    from ._flower import flower
    from ._redis import start_redis
    from ._registry import stop_all
    from ._roundtrip import round_trip
    from ._rq import rq_worker
    from ._rq_cron import rq_cron
    from ._serve import serve
    from ._waiting import timed, wait_for

_WHERE = {
    "WorkbookError": "._errors",
    "celery_worker": "._celery",
    "doctor": "._doctor",
    "dramatiq_worker": "._dramatiq",
    "exercise": "._exercises.notebook",
    "exercises": "._exercises.notebook",
    "expect_error": "._expected",
    "flower": "._flower",
    "round_trip": "._roundtrip",
    "rq_cron": "._rq_cron",
    "rq_worker": "._rq",
    "run_command": "._command",
    "serve": "._serve",
    "show": "._display",
    "start_redis": "._redis",
    "stop_all": "._registry",
    "timed": "._waiting",
    "wait_for": "._waiting",
}

__all__ = [
    "WorkbookError",
    "celery_worker",
    "doctor",
    "dramatiq_worker",
    "exercise",
    "exercises",
    "expect_error",
    "flower",
    "round_trip",
    "rq_cron",
    "rq_worker",
    "run_command",
    "serve",
    "show",
    "start_redis",
    "stop_all",
    "timed",
    "wait_for",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'workbook' has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name], __name__), name)
    value.__module__ = __name__
    globals()[name] = value  # once: later lookups do not come here
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
