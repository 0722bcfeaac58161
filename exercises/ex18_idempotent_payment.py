"""Exercise 18: charge each order exactly once.

`charge_order` charges a customer's card, then emails the receipt. The Celery app is set
up to survive a killed worker (chapter 02): messages are acknowledged when the task ends,
and a dead worker's messages come back after VISIBILITY_TIMEOUT seconds. So a task that
was charging when the worker died runs again, and charges again. A client that sends the
same order twice (a double click, a retry after a time-out) gets it charged twice too.

Make the task idempotent: whatever runs it twice, each order is charged once (the receipt
may go out twice: a second email is harmless). The check kills a real worker process in
the middle of a batch, sends orders twice, makes the card processor fail now and then, and
counts the charges (notebook 06, section 3).

Check your work: `wb.exercise("ex18").check()` in the notebook, or
`workbook check ex18` in JupyterLab's Terminal.
"""

from __future__ import annotations

import time

from celery import Celery
from redis import Redis

from app_snippets.settings import redis_url, seconds

IDEMPOTENCY_TTL = 7 * 24 * 3600  # seconds: longer than any redelivery or client retry
VISIBILITY_TIMEOUT = 2  # seconds; production: longer than your longest task

celery_app = Celery("ex18", broker=redis_url())
celery_app.conf.update(
    task_default_queue="ex18",
    task_acks_late=True,  # acknowledge when the task ends...
    task_reject_on_worker_lost=True,  # ...and requeue it when its worker dies
    task_ignore_result=True,
    worker_prefetch_multiplier=1,
    broker_transport_options={
        "visibility_timeout": VISIBILITY_TIMEOUT,
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
    },
)


def store() -> Redis:
    return Redis.from_url(redis_url(), decode_responses=True)


def card_processor_charge(order_id: str, cents: int) -> None:
    """The card processor: every call charges the customer. Do not change it."""
    with store() as client:
        attempt = client.hincrby("ex18:attempts", order_id, 1)
        if attempt <= int(client.hget("ex18:outages", order_id) or 0):
            raise ConnectionError(f"card processor unreachable (attempt {attempt})")
        client.rpush("ex18:charges", order_id)


def send_receipt(order_id: str) -> None:
    """Email the receipt: a second email is harmless. Do not change it."""
    time.sleep(max(seconds(0.5), 0.3))
    with store() as client:
        client.sadd("ex18:receipts", order_id)


@celery_app.task(
    name="ex18.charge_order", autoretry_for=(ConnectionError,), max_retries=3, default_retry_delay=0
)
def charge_order(order_id: str, cents: int) -> str:
    # TODO(ex18): charge each order once, however often this task runs for it. Claim a key
    # made from the order in Redis, atomically and with an expiry (IDEMPOTENCY_TTL), before
    # charging; skip the charge when the key is already claimed; give the claim back when
    # the charge fails, so that the retry can charge. Then delete the raise.
    raise NotImplementedError("ex18: make charge_order charge each order once")
    card_processor_charge(order_id, cents)
    send_receipt(order_id)
    return "charged"
