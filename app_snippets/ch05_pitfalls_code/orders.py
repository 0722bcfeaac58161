"""The fix for what JSON cannot carry: a pydantic DTO at each end of the queue.

The API sends `order.model_dump(mode="json")` (strings, numbers, lists and dicts only); the
task rebuilds a validated `Order` with `Order.model_validate(payload)`. Types come back
exactly (a Decimal stays a Decimal with every digit, a tuple a tuple, a datetime keeps its
time zone) on every queue, and malformed data fails in the worker with a ValidationError.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import dramatiq
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from app_snippets.ch05_pitfalls_code.brokers import broker, celery_app
from app_snippets.ch05_pitfalls_code.probe import describe

ORDERS_QUEUE = "ch05-orders"
ORDERS_JSON_QUEUE = "ch05-orders-json"


class Line(BaseModel):
    model_config = ConfigDict(frozen=True)

    sku: str
    quantity: int = Field(gt=0)
    unit_price: Decimal = Field(ge=0)


class Order(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    placed_at: AwareDatetime
    lines: tuple[Line, ...] = Field(min_length=1)


def to_message(order: Order) -> dict[str, Any]:
    """What goes on the queue: JSON-ready data only."""
    return order.model_dump(mode="json")


def confirm_order(payload: dict[str, Any]) -> dict[str, str]:
    """The task: validate first, then work on a real Order (here: describe what arrived)."""
    order = Order.model_validate(payload)
    return describe(order)


celery_confirm_order = celery_app.task(name="ch05.confirm_order")(confirm_order)
dramatiq_confirm_order = dramatiq.actor(
    confirm_order,
    broker=broker,
    actor_name="ch05_confirm_order",
    queue_name=ORDERS_QUEUE,
    store_results=True,
    max_retries=0,  # no retry can fix data that fails validation
)
