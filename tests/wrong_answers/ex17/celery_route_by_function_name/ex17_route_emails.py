"""Exercise 17: emails never wait behind reports.

The app sends long reports and short emails, on Celery, RQ and Dramatiq. Today everything
goes to one queue, so an email sent just after a few reports waits until they are done
(chapter 05, section 7). The deployment already runs one worker for REPORTS_QUEUE and one
for EMAILS_QUEUE on each queue system: route the work so that every email goes to
EMAILS_QUEUE and every report to REPORTS_QUEUE, on all three.

Check your work: `wb.exercise("ex17").check()` in the notebook, or
`workbook check ex17` in JupyterLab's Terminal.
"""

from __future__ import annotations

import time

import dramatiq
from celery import Celery
from dramatiq.brokers.redis import RedisBroker
from redis import Redis

from app_snippets.settings import redis_url, seconds

REPORTS_QUEUE = "ex17-reports"
EMAILS_QUEUE = "ex17-emails"
REPORT_SECONDS = 6.0  # scaled by DEMO_TIME_SCALE

_store = Redis.from_url(redis_url())


def build_report(run: str, sent_at: float) -> None:
    _store.rpush(f"ex17:{run}:report-starts", time.time())
    time.sleep(seconds(REPORT_SECONDS))


def send_email(run: str, sent_at: float) -> None:
    _store.rpush(f"ex17:{run}:email-starts", time.time())


# ---- Celery: tasks are sent by name; where they go is the app's routing. ----
celery_app = Celery("ex17", broker=redis_url(), backend=redis_url())
celery_app.conf.task_default_queue = REPORTS_QUEUE
# Changed: task_routes, keyed by the task's registered name, sends every email to its own
# queue, where its own worker never holds a report.
celery_app.conf.task_routes = {"send_email": {"queue": EMAILS_QUEUE}}
celery_report = celery_app.task(name="ex17.build_report")(build_report)
celery_email = celery_app.task(name="ex17.send_email")(send_email)


# ---- RQ: the API picks the queue when it enqueues. ----
def rq_queue_for(kind: str) -> str:
    """The queue that the API uses for a "report" or an "email"."""
    # Changed: emails to their own queue, everything else to the reports queue.
    return EMAILS_QUEUE if kind == "email" else REPORTS_QUEUE


# ---- Dramatiq: an actor's queue is part of the actor. ----
broker = RedisBroker(url=redis_url(), namespace="ex17")
dramatiq.set_broker(broker)
dramatiq_report = dramatiq.actor(
    build_report, broker=broker, actor_name="ex17_report", queue_name=REPORTS_QUEUE
)
dramatiq_email = dramatiq.actor(
    send_email,
    broker=broker,
    actor_name="ex17_email",
    queue_name=EMAILS_QUEUE,  # Changed
)
