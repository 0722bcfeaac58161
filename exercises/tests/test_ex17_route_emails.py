"""Checks for exercise 17: per queue system, the deployment runs a reports worker (two
slots) and an emails worker (one slot); 4 reports are sent, then 3 emails. Each email must
start before the first report ends (its start plus its whole sleep): an email queued behind
the reports cannot, whatever the machine's speed, since a slot frees only when a report ends."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from rq import Queue

import workbook as wb
from app_snippets.settings import seconds

MODULE = "ex17_route_emails"
REPORTS, EMAILS = 4, 3


def start_workers(queue: str, learner) -> list[Any]:
    """The deployment: one worker for the reports queue, one for the emails queue."""
    reports, emails = learner.REPORTS_QUEUE, learner.EMAILS_QUEUE
    if queue == "Celery":
        return [
            wb.celery_worker(f"{MODULE}:celery_app", process=True, queues=emails,
                             pool="threads", concurrency=1),
            wb.celery_worker(learner.celery_app, concurrency=2, queues=[reports]),
        ]  # fmt: skip
    if queue == "RQ":
        return [wb.rq_worker([reports]), wb.rq_worker([emails])]
    return [
        wb.dramatiq_worker(f"{MODULE}:broker", process=True, queues=emails, threads=1),
        wb.dramatiq_worker(learner.broker, threads=2, queues={reports}),
    ]


def send(queue: str, learner, kind: str, run: str) -> None:
    args = (run, time.time())
    if queue == "Celery":
        (learner.celery_report if kind == "report" else learner.celery_email).delay(*args)
    elif queue == "RQ":
        name = learner.rq_queue_for(kind)
        function = learner.build_report if kind == "report" else learner.send_email
        Queue(name, connection=wb.start_redis().client()).enqueue(function, *args)
    else:
        (learner.dramatiq_report if kind == "report" else learner.dramatiq_email).send(*args)


def where_emails_went(queue: str, learner) -> str:
    if queue == "Celery":
        route = learner.celery_app.amqp.router.route({}, "ex17.send_email")
        return route["queue"].name
    if queue == "RQ":
        return learner.rq_queue_for("email")
    return learner.dramatiq_email.queue_name


@pytest.mark.parametrize("queue", ["Celery", "RQ", "Dramatiq"])
def test_emails_start_while_reports_run(learner, redis_server, queue):
    client = redis_server.client()
    report = seconds(learner.REPORT_SECONDS)
    workers = start_workers(queue, learner)
    run = uuid.uuid4().hex
    try:
        sent_at = time.time()
        for _ in range(REPORTS):
            send(queue, learner, "report", run)
        emails_sent_at = time.time()
        for _ in range(EMAILS):
            send(queue, learner, "email", run)
        # Long enough for an email on its own queue, with a wide margin; an email queued
        # behind reports would need at least a whole report.
        deadline = time.monotonic() + 1.5 * report + 5
        while client.llen(f"ex17:{run}:email-starts") < EMAILS and time.monotonic() < deadline:
            time.sleep(0.02)
        looked_at = time.time()
        email_starts = [float(t) for t in client.lrange(f"ex17:{run}:email-starts", 0, -1)]
        report_starts = [float(t) for t in client.lrange(f"ex17:{run}:report-starts", 0, -1)]
    finally:
        for worker in workers:
            worker.stop()
        for queue_name in (learner.REPORTS_QUEUE, learner.EMAILS_QUEUE):
            Queue(queue_name, connection=wb.start_redis().client()).empty()
    went = where_emails_went(queue, learner)
    assert went in (learner.REPORTS_QUEUE, learner.EMAILS_QUEUE), (
        f"Through {queue}, the emails were sent to {went!r}, and the deployment runs workers for"
        f" {learner.REPORTS_QUEUE!r} and {learner.EMAILS_QUEUE!r} only: no worker consumes that"
        " queue, and the emails never start."
    )
    assert report_starts and min(report_starts) - sent_at < report, (
        f"Through {queue}, no report started before the emails: the reports must still go to"
        f" {learner.REPORTS_QUEUE!r}, to their own worker."
    )
    if len(email_starts) < EMAILS:
        waited = f"more than {looked_at - emails_sent_at:.2f} s"
    else:
        waited = f"{max(email_starts) - emails_sent_at:.2f} s"
    # The mechanism, not a speed: an email queued behind reports cannot start before a report
    # slot frees, that is before the first report has slept its whole length. On its own queue
    # it starts while the first reports still run, however busy the machine.
    first_report_ends = min(report_starts) + report
    assert len(email_starts) == EMAILS and max(email_starts) < first_report_ends, (
        f"Through {queue}, the emails waited {waited} to start, while a report takes"
        f" {report:.2f} s: they went to {went!r} and queued behind reports. Every email must go"
        f" to {learner.EMAILS_QUEUE!r}, where only emails wait."
    )
