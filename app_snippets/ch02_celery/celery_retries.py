"""Retries: off by default in Celery. Three ways to opt in, and the trap of retrying forever.

Each task calls a payment provider that is down (it raises ConnectionError every time) and
records the moment of every attempt in Redis, so the notebook can draw the attempts on a
timeline.
"""

from __future__ import annotations

import time

from celery import Celery
from redis import Redis

from app_snippets.settings import redis_url, seconds

celery_app = Celery("celery_retries", broker=redis_url(), backend=redis_url())
celery_app.conf.update(task_default_queue="retries")


def charge_card(order_id: str) -> str:
    """The provider's API: down for the whole demo. Records each attempt, then fails."""
    with Redis.from_url(redis_url()) as store:
        store.rpush(f"attempts:{order_id}", time.time())
    raise ConnectionError("payment provider unreachable")


@celery_app.task  # no retry option: Celery's default
def charge_once(order_id: str) -> str:
    """Without autoretry_for or self.retry(), a task that raises is FAILURE after one attempt."""
    return charge_card(order_id)


@celery_app.task(
    autoretry_for=(ConnectionError,),  # retry on this exception, re-raise anything else
    max_retries=3,  # 1 attempt + 3 retries, then FAILURE
    retry_backoff=1,  # wait 1, 2, 4, ... s: int(factor) x 2**retries, capped by retry_backoff_max
    retry_jitter=False,  # exact waits, so the timeline is easy to read
)
def charge(order_id: str) -> str:
    return charge_card(order_id)


@celery_app.task(
    autoretry_for=(ConnectionError,), max_retries=3, retry_backoff=1, retry_jitter=True
)
def charge_with_jitter(order_id: str) -> str:
    """retry_jitter=True (the default with retry_backoff): each wait is random, between 0 and
    the exponential value, so a thousand failing tasks do not all retry at the same moment."""
    return charge_card(order_id)


@celery_app.task(bind=True, max_retries=None)  # None: no limit at all
def charge_forever(self, order_id: str) -> str:
    """self.retry() gives full control of each wait; max_retries=None retries forever."""
    try:
        return charge_card(order_id)
    except ConnectionError as exc:
        raise self.retry(exc=exc, countdown=seconds(0.5)) from exc
