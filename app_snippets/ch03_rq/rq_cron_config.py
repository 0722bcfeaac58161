"""RQ's built-in cron (`rq cron` since RQ 2.4.0, crontab lines since 2.5, beta in 3.0).

Run it as its own process, next to the workers: `rq cron app_snippets.ch03_rq.rq_cron_config`
(with `--url` for your Redis). It only enqueues; a worker on the queue runs the jobs.
"""

from __future__ import annotations

from rq import cron

from app_snippets.ch03_rq.rq_tasks import sleep_for

QUEUE = "rq-demo-cron"

# Every second (the smallest interval: it is a whole number of seconds).
cron.register(sleep_for, queue_name=QUEUE, args=(0,), interval=1, name="heartbeat")

# A crontab line, in the server's local time: every day at 02:30.
cron.register(sleep_for, queue_name=QUEUE, args=(0,), cron="30 2 * * *", name="nightly-report")
