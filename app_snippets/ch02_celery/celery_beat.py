"""A periodic task with Celery beat: every few seconds, delete expired uploads.

Beat is a scheduler: it only sends `cleanup_uploads` to the queue on time; a worker runs
it. Run exactly one beat per deployment
(`celery -A app_snippets.ch02_celery.celery_beat:celery_app beat`), or every tick is sent once
per beat.
"""

from __future__ import annotations

import time

from celery import Celery
from redis import Redis

from app_snippets.settings import redis_url, seconds

celery_app = Celery("celery_beat", broker=redis_url(), backend=redis_url())
EVERY = seconds(1)
celery_app.conf.update(
    task_default_queue="beat",
    beat_schedule={
        "cleanup-uploads": {
            "task": "app_snippets.ch02_celery.celery_beat.cleanup_uploads",
            "schedule": EVERY,
        },
    },
)


def store() -> Redis:
    return Redis.from_url(redis_url(), decode_responses=True)


@celery_app.task(ignore_result=True)
def cleanup_uploads() -> int:
    """Delete uploads whose expiry time has passed; record the run."""
    now = time.time()
    with store() as redis:
        expired = redis.zrangebyscore("uploads", 0, now)
        if expired:
            redis.zrem("uploads", *expired)
        redis.rpush("cleanup_runs", f"{now} {len(expired)}")
    return len(expired)
