"""Release 2 of the receipts worker, as it is often shipped: a new signature, same names.

The API now knows the customer's address and the currency, and passes them. The change is
breaking both ways: a worker still on release 1 cannot take the new message (one positional
argument too many, a keyword it has never heard of), and this worker cannot take a message
queued by release 1 (no `email`). Start commands in ../README.md.
"""

from __future__ import annotations

import json
import os

import dramatiq
from celery import Celery
from dramatiq.brokers.redis import RedisBroker
from redis import Redis

RELEASE = "2"
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")  # `rq worker -c` reads it
QUEUE = "ch05-receipts"
OUTBOX = "ch05-receipts:outbox"  # stands in for the mail server: one entry per receipt

celery_app = Celery("receipts", broker=REDIS_URL, backend=REDIS_URL)
celery_app.conf.task_default_queue = QUEUE
broker = RedisBroker(url=REDIS_URL, namespace="ch05-dramatiq")  # `dramatiq receipts:broker`


def send_receipt(order_id: int, email: str, *, currency: str = "EUR") -> str:
    with Redis.from_url(REDIS_URL) as client:
        receipt = {"order_id": order_id, "email": email, "currency": currency, "release": RELEASE}
        client.rpush(OUTBOX, json.dumps(receipt))
    return f"receipt for order {order_id} sent to {email}"


celery_send_receipt = celery_app.task(name="ch05.send_receipt", shared=False)(send_receipt)
dramatiq_send_receipt = dramatiq.actor(
    send_receipt, broker=broker, actor_name="ch05_send_receipt", queue_name=QUEUE
)
