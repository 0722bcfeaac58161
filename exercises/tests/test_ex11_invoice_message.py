"""Checks for exercise 11, through Redis and a real Dramatiq worker.

What "correct" means, property by property:
1. enqueue_invoice() sends a Message that Dramatiq can encode as JSON, and the worker
   renders the invoice it carries.
2. The message carries the invoice exactly: decoded from the bytes Dramatiq sends, it
   validates into an Invoice equal to the one sent, with the same UTC offset, for
   adversarial values: prices with 19 significant digits and with 7 decimal places (a float
   loses them), issue times half an hour from midnight in UTC+05:30 and UTC-08:00 (a Unix
   timestamp or a time moved to UTC lands on another day; a naive one does not validate),
   and the lines as a tuple of models.
3. The worker renders those invoices right: the due date is counted in the invoice's own
   time zone, and the total is exact to the last digit.
4. A malformed invoice fails at once in the worker, with pydantic's ValidationError, and
   is not retried.
Results are awaited to a deadline, and read from Dramatiq's result backend.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import dramatiq
from dramatiq import Message
from dramatiq.results import ResultFailure, ResultMissing

PATIENCE = 30.0  # seconds: a deadline for wrong answers and very busy machines only


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
                f" retry: the payload it gets is plain JSON data.\n{worker.log()}"
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
        result = wait_for_result(learner, message, worker, PATIENCE)
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


def invoice_at(learner, issued_at: datetime) -> object:
    return learner.Invoice(
        invoice_id=uuid.uuid4(),
        issued_at=issued_at,
        payment_terms_days=30,
        lines=(
            learner.Line(
                description="ledger", quantity=3, unit_price=Decimal("33333333333333333.33")
            ),
            learner.Line(description="stamp", quantity=7, unit_price=Decimal("0.0000001")),
        ),
    )


# Half an hour from midnight, on either side of UTC: the UTC date is another day.
ADVERSARIAL = {
    "2030-01-31 00:30 at UTC+05:30": (
        datetime(2030, 1, 31, 0, 30, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        "2030-03-02",
    ),
    "2030-01-31 23:30 at UTC-08:00": (
        datetime(2030, 1, 31, 23, 30, tzinfo=timezone(timedelta(hours=-8))),
        "2030-03-02",
    ),
}


def test_the_message_carries_the_invoice_exactly(learner, dramatiq_worker):
    worker = dramatiq_worker(learner.broker)
    for moment, (issued_at, due) in ADVERSARIAL.items():
        invoice = invoice_at(learner, issued_at)
        message = learner.enqueue_invoice(invoice)
        payload = Message.decode(message.encode()).args[0]  # what the worker receives
        try:
            received = (
                learner.Invoice.model_validate_json(payload)
                if isinstance(payload, str | bytes)
                else learner.Invoice.model_validate(payload)
            )
        except ValueError as exc:
            raise AssertionError(
                f"The message for an invoice issued {moment} does not validate back into an"
                f" Invoice ({str(exc).splitlines()[0]}): {payload}"
            ) from None
        assert [line.unit_price for line in received.lines] == [
            line.unit_price for line in invoice.lines
        ], (
            f"Prices of {[str(line.unit_price) for line in invoice.lines]} arrive as"
            f" {[str(line.unit_price) for line in received.lines]}: digits were lost on the"
            f" way. A Decimal must travel as its exact text, never as a float.\n{payload}"
        )
        offset = received.issued_at.utcoffset()
        assert received.issued_at == issued_at and offset == issued_at.utcoffset(), (
            f"An invoice issued {moment} ({issued_at.isoformat()}) arrives as issued"
            f" {received.issued_at.isoformat()}: its time zone was lost on the way, and with"
            " it the invoice's own date. Send the date-time with its UTC offset.\n"
            f"{payload}"
        )
        assert received == invoice, (
            f"The invoice arrives as {received!r}, not as the one sent, {invoice!r}."
        )
        expected = {
            "invoice_id": str(invoice.invoice_id),
            "due": due,
            "total": "99999999999999999.9900007",
        }
        try:
            result = wait_for_result(learner, message, worker, PATIENCE)
        except ResultFailure as exc:
            raise AssertionError(
                f"render_invoice failed in the worker: {exc}.\n{worker.log()}"
            ) from None
        assert result == expected, (
            f"For an invoice issued {moment}, render_invoice returned {result}, not"
            f" {expected}: the due date counts in the invoice's own time zone, and the"
            " total is exact to the last digit."
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
    retrying = f"Retrying message {message.message_id!r}"
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        try:
            result = message.get_result(backend=learner.results_backend)
        except ResultMissing:
            pass
        except ResultFailure as exc:
            assert "ValidationError" in str(exc), (
                f"A malformed invoice failed with {exc}, not with pydantic's ValidationError:"
                " the actor used the payload without validating it first."
            )
            return
        else:
            raise AssertionError(
                f"A malformed invoice (an id that is no UUID, a quantity of 0) was rendered as"
                f" {result}: the actor does not validate what it receives."
            )
        if retrying in worker.raw_log():  # Dramatiq's Retries middleware said so
            assert "ValidationError" in worker.raw_log(), (
                "A malformed invoice (an id that is no UUID, a quantity of 0) did not fail"
                " with pydantic's ValidationError: the actor uses the payload without"
                f" validating it first.\n{worker.log()}"
            )
            raise AssertionError(
                "A malformed invoice failed with a ValidationError, and Dramatiq holds it for"
                " a retry (by default the first comes 15-30 s later, and 20 follow). No retry"
                " can fix bad data: make that failure final."
            )
        time.sleep(0.05)
    raise AssertionError(
        f"A malformed invoice had neither a result nor a retry {PATIENCE:.0f} s after it was"
        f" sent.\n{worker.log()}"
    )
