"""The machinery that runs the workbook's teaching code live inside a Jupyter kernel.

A real Redis, real uvicorn servers and real Celery, RQ and Dramatiq workers, each started
with one call, replaced when a cell is re-run, and gone when the kernel goes away.
"""

from ._celery import celery_worker
from ._command import run_command
from ._display import show
from ._doctor import doctor
from ._dramatiq import dramatiq_worker
from ._errors import WorkbookError
from ._exercises import exercise, exercises
from ._expected import expect_error
from ._flower import flower
from ._redis import start_redis
from ._registry import stop_all
from ._rq import rq_worker
from ._rq_cron import rq_cron
from ._serve import serve

__all__ = [
    "WorkbookError",
    "celery_worker",
    "doctor",
    "dramatiq_worker",
    "exercise",
    "exercises",
    "expect_error",
    "flower",
    "rq_cron",
    "rq_worker",
    "run_command",
    "serve",
    "show",
    "start_redis",
    "stop_all",
]
