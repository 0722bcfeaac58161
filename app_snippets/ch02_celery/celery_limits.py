"""Time limits, rate limits and revoke: the brakes a task queue gives you.

Time limits need a worker whose pool can stop a task: the prefork pool (processes), the
default of `celery worker`. The threads pool cannot interrupt a thread, so it ignores them.
"""

from __future__ import annotations

import time

from celery import Celery
from celery.exceptions import SoftTimeLimitExceeded
from redis import Redis

from app_snippets.settings import redis_url, seconds, time_scale

celery_app = Celery("celery_limits", broker=redis_url(), backend=redis_url())
celery_app.conf.update(task_default_queue="limits", task_track_started=True)

SOFT = seconds(2)
HARD = max(seconds(3), SOFT + 0.5)  # 3 s; at least 0.5 s after the soft limit, time to clean up
LONG_JOB = HARD + seconds(2)  # 5 s of work: past both limits


@celery_app.task(soft_time_limit=SOFT, time_limit=HARD)
def render_video(video_id: int, takes: float) -> str:
    """The soft limit raises SoftTimeLimitExceeded inside the task: time to clean up."""
    try:
        time.sleep(takes)  # the work
    except SoftTimeLimitExceeded:
        # delete the half-written file, record the failure, then give up
        return f"video {video_id}: stopped cleanly after the soft limit"
    return f"video {video_id}: rendered"


@celery_app.task(soft_time_limit=SOFT, time_limit=HARD)
def render_video_stubborn(video_id: int, takes: float) -> str:
    """Catches every exception, the soft limit's too: only the hard limit can stop it."""
    deadline = time.monotonic() + takes
    while time.monotonic() < deadline:
        try:
            time.sleep(0.01)
        except Exception as exc:  # `except Exception` swallows SoftTimeLimitExceeded too
            print(f"ignoring {exc!r}, carrying on")
    return f"video {video_id}: rendered"


# A partner's API allows 5 calls a second. rate_limit counts per worker, not in total.
# 5 per second for you; faster under test, but at most 10, so that each worker's pace still
# stands out from a busy machine's delays.
PARTNER_RATE = round(5 / max(time_scale(), 0.5))


@celery_app.task(bind=True, rate_limit=f"{PARTNER_RATE}/s")
def call_partner(self, call: int) -> float:
    """Records which worker made the call, and when."""
    with Redis.from_url(redis_url()) as store:
        store.rpush("limits:partner_calls", f"{self.request.hostname} {time.time()}")
    return time.time()


@celery_app.task
def export_report(report_id: int) -> str:
    time.sleep(max(seconds(3), 2.0))  # 3 s (2 s at least: time to revoke it while it runs)
    return f"report {report_id}"
