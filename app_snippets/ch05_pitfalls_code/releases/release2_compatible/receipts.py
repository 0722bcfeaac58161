"""Release 2 done right: a change that survives a rolling deploy.

While hosts are redeployed one by one, workers of both releases take messages from the same
queue, and messages sent by either release's API wait in it. So this release:
- keeps the old task exactly as it was (name and signature): a message queued by release 1,
  or sent by an API that has not switched yet, still works here;
- adds the new contract under a new name, as one JSON payload that carries its version;
  `parse` reads every version this release knows and names the one it does not;
- leaves the switch to the API: it sends version 1 until every worker runs this release,
  then version 2 (RECEIPT_MESSAGE_VERSION, ../../receipts_api.py). The old task can go in
  the release after that, once no version-1 message is queued.
Start commands in ../README.md.
"""

from __future__ import annotations

import json
import os
from typing import Any

import dramatiq
from celery import Celery
from dramatiq.brokers.redis import RedisBroker
from redis import Redis

RELEASE = "2 (compatible)"
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")  # `rq worker -c` reads it
QUEUE = "ch05-receipts"
OUTBOX = "ch05-receipts:outbox"  # stands in for the mail server: one entry per receipt
VERSIONS = (1, 2)  # the message versions this release reads

celery_app = Celery("receipts", broker=REDIS_URL, backend=REDIS_URL)
celery_app.conf.task_default_queue = QUEUE
broker = RedisBroker(url=REDIS_URL, namespace="ch05-dramatiq")  # `dramatiq receipts:broker`


def parse(message: dict[str, Any]) -> tuple[int, str, str]:
    """(order_id, email, currency) from a message of any version this release reads."""
    version = message.get("version")
    if version == 1:
        order_id = int(message["order_id"])
        return order_id, f"customer-{order_id}@example.com", "EUR"  # looked up, as in release 1
    if version == 2:
        return int(message["order_id"]), str(message["email"]), str(message["currency"])
    raise ValueError(
        f"receipt message version {version!r}: release {RELEASE} reads versions {VERSIONS};"
        " deploy a release that reads it to every worker before the API sends it"
    )


def send_receipt_v2(message: dict[str, Any]) -> str:
    """The new contract: one JSON payload with a "version"."""
    order_id, email, currency = parse(message)
    with Redis.from_url(REDIS_URL) as client:
        receipt = {"order_id": order_id, "email": email, "currency": currency, "release": RELEASE}
        client.rpush(OUTBOX, json.dumps(receipt))
    return f"receipt for order {order_id} sent to {email}"


def send_receipt(order_id: int) -> str:
    """Release 1's task, unchanged on the outside: what release-1 messages still ask for."""
    return send_receipt_v2({"version": 1, "order_id": order_id})


celery_send_receipt = celery_app.task(name="ch05.send_receipt", shared=False)(send_receipt)
celery_send_receipt_v2 = celery_app.task(name="ch05.send_receipt_v2", shared=False)(send_receipt_v2)
dramatiq_send_receipt = dramatiq.actor(
    send_receipt, broker=broker, actor_name="ch05_send_receipt", queue_name=QUEUE
)
dramatiq_send_receipt_v2 = dramatiq.actor(
    send_receipt_v2, broker=broker, actor_name="ch05_send_receipt_v2", queue_name=QUEUE
)
