"""Long reports and short emails on the same worker: how long does an email wait?

Each task records, in Redis, when it started against when it was sent. `mixed_*` puts both
kinds on one queue (the default: one queue for everything); `routed_*` gives each kind its
own queue, so that each can have its own worker and an email never waits behind a report.
"""

from __future__ import annotations

import time

import dramatiq
from celery import Celery
from redis import Redis

from app_snippets.ch05_pitfalls_code.brokers import broker
from app_snippets.settings import redis_url, seconds

MIXED_QUEUE = "ch05-mixed"
REPORTS_QUEUE = "ch05-reports"
EMAILS_QUEUE = "ch05-emails"
REPORT_SECONDS = 5.0  # at learner pacing; seconds() scales it
EMAIL_SECONDS = 0.05

_store = Redis.from_url(redis_url())


def build_report(run: str, sent_at: float) -> None:
    _store.rpush(f"ch05:report-waits:{run}", time.time() - sent_at)
    time.sleep(seconds(REPORT_SECONDS))


def send_email(run: str, sent_at: float) -> None:
    _store.rpush(f"ch05:email-waits:{run}", time.time() - sent_at)
    time.sleep(seconds(EMAIL_SECONDS))


# Celery, as most projects start: one queue, default prefetch (4 per slot), early acks.
celery_mixed = Celery("ch05-mixed", broker=redis_url(), backend=redis_url())
celery_mixed.conf.task_default_queue = MIXED_QUEUE
# The fix: a queue per kind (and a worker per queue); a report worker that reserves only
# the task it runs (prefetch 1, acknowledged when done), so it hoards nothing.
celery_routed = Celery("ch05-routed", broker=redis_url(), backend=redis_url())
celery_routed.conf.update(
    task_routes={"ch05.build_report": {"queue": REPORTS_QUEUE},
                 "ch05.send_email": {"queue": EMAILS_QUEUE}},
    worker_prefetch_multiplier=1,
    task_acks_late=True,
)  # fmt: skip
for app in (celery_mixed, celery_routed):
    app.task(name="ch05.build_report")(build_report)
    app.task(name="ch05.send_email")(send_email)

# Dramatiq: an actor's queue is part of the actor, so each (routed?, kind) has its own.
DRAMATIQ_ACTORS = {
    (routed, kind): dramatiq.actor(
        build_report if kind == "report" else send_email,
        broker=broker,
        actor_name=f"ch05_{'routed' if routed else 'mixed'}_{kind}",
        queue_name=(REPORTS_QUEUE if kind == "report" else EMAILS_QUEUE) if routed else MIXED_QUEUE,
        max_retries=0,
    )
    for routed in (False, True)
    for kind in ("report", "email")
}


def send_mix(queue: str, routed: bool, run: str, reports: int = 4, emails: int = 4) -> None:
    """Send `reports` reports, then `emails` emails, through "celery", "rq" or "dramatiq"."""
    from app_snippets.ch05_pitfalls_code.brokers import rq_queue

    for kind, count in (("report", reports), ("email", emails)):
        function = build_report if kind == "report" else send_email
        for _ in range(count):
            args = (run, time.time())
            if queue == "celery":
                app = celery_routed if routed else celery_mixed
                app.send_task(f"ch05.{function.__name__}", args=args)
            elif queue == "rq":
                own_queue = REPORTS_QUEUE if kind == "report" else EMAILS_QUEUE
                rq_queue(own_queue if routed else MIXED_QUEUE).enqueue(function, *args)
            else:
                DRAMATIQ_ACTORS[routed, kind].send(*args)


def waits(kind: str, run: str) -> list[float]:
    """Seconds each report or email of `run` waited between sent and started."""
    return [float(value) for value in _store.lrange(f"ch05:{kind}-waits:{run}", 0, -1)]


def drop_queued_reports() -> None:
    """Empty the report queues (the lab needs only the emails' waits)."""
    from app_snippets.ch05_pitfalls_code.brokers import rq_queue

    for name in (MIXED_QUEUE, REPORTS_QUEUE):
        rq_queue(name).empty()
        broker.flush(name)
        with celery_routed.connection_for_write() as connection:
            connection.default_channel.queue_purge(name)
