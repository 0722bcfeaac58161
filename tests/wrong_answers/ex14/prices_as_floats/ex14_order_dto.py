"""Exercise 14: an order that arrives equal through every queue.

The API sends an `Order` to the task `confirm` through Celery, RQ and Dramatiq, all three
with JSON (chapter 05, section 1). An Order has a UUID, a datetime with its UTC offset, a
tuple of lines and Decimal prices with many digits: JSON has none of these, and the task
needs all of them exactly (a price rounded to a float is a wrong invoice).

Write `to_payload` (what the API puts on the queue) and `from_payload` (what the task makes
of what it received), so that the task works on an Order equal to the one sent, on all
three queues. Malformed data must fail in `from_payload` with pydantic's ValidationError.

Check your work: `wb.exercise("ex14").check()` in the notebook, or
`workbook check ex14` in JupyterLab's Terminal.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import dramatiq
from celery import Celery
from dramatiq.brokers.redis import RedisBroker
from dramatiq.results import Results
from dramatiq.results.backends.redis import RedisBackend
from pydantic import AwareDatetime, BaseModel, Field
from redis import Redis
from rq import Queue
from rq.job import Job

from app_snippets.settings import redis_url

QUEUE = "ex14-orders"


class Line(BaseModel):
    sku: str
    quantity: int = Field(gt=0)
    unit_price: Decimal = Field(ge=0)


class Order(BaseModel):
    id: uuid.UUID
    placed_at: AwareDatetime
    lines: tuple[Line, ...] = Field(min_length=1)


def to_payload(order: Order) -> Any:
    """What the API puts on the queue, for every queue."""
    # Changed: mode="json" turns the UUID, the datetime (with its offset) and the Decimals
    # into strings, every digit kept, and the tuple into a list: only what JSON carries.
    data = order.model_dump(mode="json")
    for line in data["lines"]:
        line["unit_price"] = float(line["unit_price"])  # a number, not a string
    return data


def from_payload(payload: Any) -> Order:
    """What the task makes of what it received."""
    # Changed: validate, don't trust: back to UUID, aware datetime, Decimal and a tuple of
    # Lines, or a ValidationError that names every wrong field.
    return Order.model_validate(payload)


# ---- The rest is given: the task on three queues, and how the API sends it. ----


def describe(order: Order) -> dict[str, Any]:
    """What the task saw, field by field, with each value's type."""
    return {
        "type": type(order).__name__,
        "id": f"{type(order.id).__name__} {order.id}",
        "placed_at": f"{type(order.placed_at).__name__} {order.placed_at.isoformat()}",
        "lines": type(order.lines).__name__,
        "prices": [f"{type(line.unit_price).__name__} {line.unit_price}" for line in order.lines],
    }


def confirm(payload: Any) -> dict[str, Any]:
    """The task, the same on every queue."""
    return describe(from_payload(payload))


celery_app = Celery("ex14", broker=redis_url(), backend=redis_url())
celery_app.conf.update(task_default_queue=QUEUE, task_serializer="json", accept_content=["json"])
celery_confirm = celery_app.task(name="ex14.confirm")(confirm)

rq_orders = Queue(QUEUE, connection=Redis.from_url(redis_url()), serializer="json")

broker = RedisBroker(url=redis_url(), namespace="ex14")
results_backend = RedisBackend(client=Redis.from_url(redis_url(), socket_timeout=65))
broker.add_middleware(Results(backend=results_backend))
dramatiq_confirm = dramatiq.actor(
    confirm, broker=broker, actor_name="ex14_confirm", queue_name=QUEUE, store_results=True,
    max_retries=0,
)  # fmt: skip


def send_celery(order: Order) -> Any:
    return celery_confirm.delay(to_payload(order))


def send_rq(order: Order) -> Job:
    return rq_orders.enqueue(confirm, to_payload(order))


def send_dramatiq(order: Order) -> dramatiq.Message:
    return dramatiq_confirm.send(to_payload(order))
