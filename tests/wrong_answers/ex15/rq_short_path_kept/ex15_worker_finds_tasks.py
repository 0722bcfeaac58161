"""Exercise 15: a worker module whose workers find their tasks.

This module is what three workers load, each as its own process started from the root of
the repository, the way a deployment starts them:

    celery -A ex15_worker_finds_tasks:celery_app worker -Q ex15-reports
    rq worker ex15-reports
    dramatiq ex15_worker_finds_tasks

and what the API imports to send them work. As written, none of the three finds the report
task (chapter 05, section 3): make each one find it, without moving the tasks' code.

Check your work: `wb.exercise("ex15").check()` in the notebook, or
`workbook check ex15` in JupyterLab's Terminal.
"""

from __future__ import annotations

import dramatiq
from celery import Celery
from dramatiq.brokers.redis import RedisBroker
from redis import Redis
from rq import Queue
from rq.job import Job

from app_snippets.settings import redis_url

QUEUE = "ex15-reports"
# The report tasks live in the chapter's package (do not move them):
#   Celery: app_snippets/ch05_pitfalls_code/reports.py, task name "ch05.reports.build"
#   RQ:     app_snippets/ch05_pitfalls_code/rq_reports.py, function build_report
CELERY_TASK = "ch05.reports.build"

# ---- Celery ----
# Changed: include= makes every worker of this app import the module that declares the
# task, at start; the worker loads only this module, and a task it never imported is
# "unregistered" (its messages are dropped).
celery_app = Celery(
    "ex15",
    broker=redis_url(),
    backend=redis_url(),
    include=["app_snippets.ch05_pitfalls_code.reports"],
)
celery_app.conf.task_default_queue = QUEUE


# ---- RQ ----
def enqueue_report(report_id: int) -> Job:
    """What the API calls. (The API runs from inside app_snippets/ch05_pitfalls_code/.)"""
    queue = Queue(QUEUE, connection=Redis.from_url(redis_url()))
    # Changed: the full import path from the repository root, where the worker runs; the
    # short one only worked beside the API ("Invalid attribute name" in the worker).
    return queue.enqueue("rq_reports.build_report", report_id)


# ---- Dramatiq ----
# Changed: the broker first, and named in the decorator: an actor binds to a broker when
# it is declared, and before set_broker that was Dramatiq's default (Redis on localhost).
broker = RedisBroker(url=redis_url(), namespace="ex15")
dramatiq.set_broker(broker)


@dramatiq.actor(broker=broker, queue_name=QUEUE)
def build_report(report_id: int) -> None:
    Redis.from_url(redis_url()).set(f"ex15:built:{report_id}", "dramatiq")
