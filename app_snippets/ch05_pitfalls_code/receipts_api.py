"""What the API sends to the receipts workers (releases/), by name: it imports none of their code.

Whatever release a worker runs, a message names the same task: Celery's task name
(`send_task`), RQ's import path (a dotted string), Dramatiq's actor name (a `Message`). What
changes between releases is the arguments that name accepts, and that is what the API must
get right during a rolling deploy.
"""

from __future__ import annotations

import os
from typing import Any

import dramatiq
from celery import Celery
from dramatiq.brokers.redis import RedisBroker

from app_snippets.ch05_pitfalls_code.brokers import rq_queue
from app_snippets.settings import redis_url

RECEIPTS_QUEUE = "ch05-receipts"
OUTBOX = "ch05-receipts:outbox"  # where the workers record each receipt they sent
VERSION_VARIABLE = "RECEIPT_MESSAGE_VERSION"  # raised to 2 once every worker reads version 2
QUEUES = ("celery", "rq", "dramatiq")
TASK_NAMES = {  # what each queue finds a task by; every release keeps these
    "send_receipt": {
        "celery": "ch05.send_receipt",
        "rq": "receipts.send_receipt",
        "dramatiq": "ch05_send_receipt",
    },
    "send_receipt_v2": {
        "celery": "ch05.send_receipt_v2",
        "rq": "receipts.send_receipt_v2",
        "dramatiq": "ch05_send_receipt_v2",
    },
}

celery_app = Celery("ch05-receipts-api", broker=redis_url(), backend=redis_url())
# The API's own broker object: no worker of this process consumes through it.
broker = RedisBroker(url=redis_url(), namespace="ch05-dramatiq")


def send(queue: str, task: str, *args: Any, **kwargs: Any) -> str:
    """Send `task` with these arguments through `queue`; return the message's id."""
    if queue not in QUEUES:
        raise ValueError(f"queue {queue!r}: use one of {QUEUES}")
    name = TASK_NAMES[task][queue]
    if queue == "celery":
        return celery_app.send_task(name, args=args, kwargs=kwargs, queue=RECEIPTS_QUEUE).id
    if queue == "rq":
        job = rq_queue(RECEIPTS_QUEUE, serializer="json").enqueue(name, args=args, kwargs=kwargs)
        return job.id
    message = dramatiq.Message(
        queue_name=RECEIPTS_QUEUE, actor_name=name, args=args, kwargs=kwargs, options={}
    )
    return broker.enqueue(message).message_id


def message_version() -> int:
    """The receipt message version the API sends: the newest one every worker reads."""
    version = int(os.environ.get(VERSION_VARIABLE, "1"))
    if version not in (1, 2):
        raise ValueError(f"{VERSION_VARIABLE}={version}: this API sends version 1 or 2")
    return version


def send_receipt(queue: str, order_id: int, email: str, currency: str = "EUR") -> str:
    """Release 2's API, done right: version 1 until the rollout is over, then version 2."""
    if message_version() == 1:
        return send(queue, "send_receipt", order_id)  # both releases read version 1
    payload = {"version": 2, "order_id": order_id, "email": email, "currency": currency}
    return send(queue, "send_receipt_v2", payload)
