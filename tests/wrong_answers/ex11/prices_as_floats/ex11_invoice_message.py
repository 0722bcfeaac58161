"""Exercise 11: an invoice message that survives JSON.

The web app calls `enqueue_invoice(invoice)`, and the actor `render_invoice` works out the
invoice's due date and total. An `Invoice` holds a UUID, a datetime and Decimal prices:
Dramatiq encodes messages as JSON, and JSON has none of these. `.send(invoice)` raises
TypeError, and so does `.send(invoice.model_dump())`.

Send the invoice as JSON-ready data, and make the actor rebuild a validated `Invoice` from
what it receives. A malformed invoice (a typo, a missing field) must fail at once, without
retries: no retry can fix bad data, and by default Dramatiq would try it 20 more times.

Check your work: `wb.exercise("ex11").check()` in the notebook, or
`workbook check ex11` in JupyterLab's Terminal.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.results import Results
from dramatiq.results.backends.redis import RedisBackend
from pydantic import AwareDatetime, BaseModel, Field, ValidationError  # Changed: ValidationError
from redis import Redis

from app_snippets.settings import redis_url

broker = RedisBroker(url=redis_url())
results_backend = RedisBackend(client=Redis.from_url(redis_url(), socket_timeout=65))
broker.add_middleware(Results(backend=results_backend))


class Line(BaseModel):
    description: str
    quantity: int = Field(gt=0)
    unit_price: Decimal = Field(ge=0)


class Invoice(BaseModel):
    invoice_id: uuid.UUID
    issued_at: AwareDatetime
    payment_terms_days: int = Field(ge=0)
    lines: tuple[Line, ...] = Field(min_length=1)


def enqueue_invoice(invoice: Invoice) -> dramatiq.Message:
    """Send the invoice to render_invoice (the web app calls this)."""
    # Changed: mode="json" turns the UUID, the datetime and the Decimals into strings (and
    # the tuple into a list): a plain dict that JSON can carry. The model stays the one
    # description of the message, on both sides.
    payload = invoice.model_dump(mode="json")
    for line in payload["lines"]:
        line["unit_price"] = float(line["unit_price"])  # Wrong: a price as a float
    return render_invoice.send(payload)


# Changed: throws=(ValidationError,): a payload that does not validate fails at once, into
# the dead-letter queue (and its stored result), instead of 20 retries over a month.
@dramatiq.actor(
    broker=broker, queue_name="ex11-invoices", store_results=True, throws=(ValidationError,)
)
def render_invoice(payload: dict[str, Any]) -> dict[str, str]:
    # Changed: validate, don't trust: back to UUID, datetime, Decimal and tuple, or a
    # ValidationError that names every wrong field.
    invoice = Invoice.model_validate(payload)
    due = invoice.issued_at + timedelta(days=invoice.payment_terms_days)
    total = sum(line.unit_price * line.quantity for line in invoice.lines)
    return {
        "invoice_id": str(invoice.invoice_id),
        "due": due.date().isoformat(),
        "total": str(total),
    }
