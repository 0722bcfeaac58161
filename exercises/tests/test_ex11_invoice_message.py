"""Checks for exercise 11: an Invoice goes through Redis to a real Dramatiq worker and comes
back rendered; a malformed payload fails at once, with a ValidationError, and no retry."""

from __future__ import annotations

import importlib
import time
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import dramatiq
import pytest
from dramatiq.results import ResultFailure, ResultMissing

MODULE = "ex11_invoice_message"


@pytest.fixture(scope="module")
def learner(redis_server):
    # Imported once Redis runs: the module reads REDIS_URL when it is imported.
    return importlib.import_module(MODULE)


def wait_for_result(learner, message, worker, within: float) -> object:
    """The stored result, or ResultFailure raised; an AssertionError if none comes."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            return message.get_result(backend=learner.results_backend)
        except ResultMissing:
            pass
        if "with unhandled exception" in worker.raw_log():
            raise AssertionError(
                "render_invoice raised in the worker, and Dramatiq keeps the message for a"
                f" retry:\n{worker.log()}"
            )
        time.sleep(0.05)
    raise AssertionError(
        f"render_invoice gave no result within {within:g} s: the message is still waiting"
        f" (for a retry?).\n{worker.log()}"
    )


def test_an_invoice_goes_through_the_queue_and_comes_back_rendered(learner, dramatiq_worker):
    worker = dramatiq_worker(learner.broker)
    invoice_id = uuid.uuid4()
    invoice = learner.Invoice(
        invoice_id=invoice_id,
        issued_at=datetime(2030, 1, 31, 10, 0, tzinfo=timezone(timedelta(hours=1))),
        payment_terms_days=30,
        lines=(
            learner.Line(description="pears, 1 kg", quantity=2, unit_price=Decimal("19.99")),
            learner.Line(description="paper bag", quantity=3, unit_price=Decimal("0.10")),
        ),
    )
    try:
        message = learner.enqueue_invoice(invoice)
    except TypeError as exc:
        raise AssertionError(
            f"enqueue_invoice() raised {exc!r}. Dramatiq encodes every message as JSON, which"
            " has no UUID, datetime or Decimal: send data made only of strings, numbers,"
            " lists and dicts."
        ) from None
    assert isinstance(message, dramatiq.Message), (
        f"enqueue_invoice() returned {message!r}: it should return the Message that .send()"
        " gives back, so that the web app can follow it."
    )
    try:
        result = wait_for_result(learner, message, worker, 5)
    except ResultFailure as exc:
        raise AssertionError(
            f"render_invoice failed in the worker: {exc}. The actor works on an Invoice, and"
            f" the payload it gets is plain JSON data.\n{worker.log()}"
        ) from None
    expected = {"invoice_id": str(invoice_id), "due": "2030-03-02", "total": "40.28"}
    assert result == expected, (
        f"render_invoice returned {result}, not {expected}: the invoice did not arrive as"
        " the Invoice that was sent (exact Decimal prices, the issue date and its time zone)."
    )


def test_a_malformed_invoice_fails_at_once_without_retries(learner, dramatiq_worker):
    worker = dramatiq_worker(learner.broker)
    malformed = {
        "invoice_id": "INV-0042",  # not a UUID
        "issued_at": "31/01/2030",  # not an ISO date-time
        "payment_terms_days": 30,
        "lines": [{"description": "pears", "quantity": 0, "unit_price": "19.99"}],
    }
    message = learner.render_invoice.send(malformed)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        try:
            result = message.get_result(backend=learner.results_backend)
        except ResultMissing:
            time.sleep(0.05)
            continue
        except ResultFailure as exc:
            assert "ValidationError" in str(exc), (
                f"A malformed invoice failed with {exc}, not with pydantic's ValidationError:"
                " the actor used the payload without validating it first."
            )
            return
        raise AssertionError(
            f"A malformed invoice (an id that is no UUID, a quantity of 0) was rendered as"
            f" {result}: the actor does not validate what it receives."
        )
    log = worker.raw_log()
    assert "ValidationError" in log, (
        "A malformed invoice (an id that is no UUID, a quantity of 0) did not fail with"
        " pydantic's ValidationError: the actor uses the payload without validating it first."
        f"\n{worker.log()}"
    )
    raise AssertionError(
        "A malformed invoice failed with a ValidationError, but 3 s later it still had no"
        " result: Dramatiq is holding it for a retry (by default the first comes 15-30 s"
        " later, and 20 follow). No retry can fix bad data: make that failure final."
    )
