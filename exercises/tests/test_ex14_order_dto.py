"""Checks for exercise 14: one order, with adversarial values (a UTC offset that is not
zero, a price with more digits than a float holds, a tuple of lines), through a real
Celery, RQ and Dramatiq worker, all with JSON; the task must see an equal Order each time,
and malformed data must fail validation."""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from dramatiq.results import ResultFailure, ResultMissing
from pydantic import ValidationError

import workbook as wb

PATIENCE = 15.0


@pytest.fixture(scope="module")
def workers(learner):
    handles = [
        wb.celery_worker(learner.celery_app, concurrency=2),
        wb.rq_worker([learner.QUEUE], serializer="json"),
        wb.dramatiq_worker(learner.broker, threads=2),
    ]
    yield dict(zip(("Celery", "RQ", "Dramatiq"), handles, strict=True))
    for handle in handles:
        handle.stop()


def the_order(learner) -> Any:
    return learner.Order(
        id=uuid.UUID("6f1c2a4e-8d3b-4c5a-9e7f-0a1b2c3d4e5f"),
        placed_at=datetime(2030, 1, 31, 21, 45, 7, 250000, tzinfo=timezone(timedelta(hours=-5))),
        lines=(
            learner.Line(
                sku="PEAR-1KG", quantity=2, unit_price=Decimal("12345678901.234567890123")
            ),
            learner.Line(sku="BAG", quantity=1, unit_price=Decimal("0.10")),
        ),
    )


def expected(learner) -> dict[str, Any]:
    return learner.describe(the_order(learner))


def result_of(queue: str, sent: Any, learner, worker) -> dict[str, Any]:
    """The task's return value; an AssertionError naming the failure otherwise."""
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        if queue == "Celery" and sent.ready():
            if sent.failed():
                raise AssertionError(f"The task failed in the Celery worker: {sent.result!r}.")
            return sent.result
        if queue == "RQ":
            status = sent.get_status(refresh=True)
            if status == "finished":
                return sent.return_value()
            if status == "failed":
                error = sent.latest_result().exc_string.strip().splitlines()[-1]
                raise AssertionError(f"The task failed in the RQ worker: {error}.")
        if queue == "Dramatiq":
            try:
                return sent.get_result(backend=learner.results_backend)
            except ResultMissing:
                pass
            except ResultFailure as exc:
                raise AssertionError(f"The task failed in the Dramatiq worker: {exc}.") from None
        time.sleep(0.05)
    raise AssertionError(
        f"No result from the {queue} worker within {PATIENCE:g} s.\n{worker.logs(20)}"
    )


def test_the_payload_is_plain_json(learner):
    payload = learner.to_payload(the_order(learner))
    try:
        text = json.dumps(payload)
    except TypeError as exc:
        raise AssertionError(
            f"to_payload() returned data that JSON cannot carry ({exc}). RQ's and Dramatiq's"
            " JSON refuse it at enqueue; Celery's JSON accepts some of it with tags only Celery"
            " reads. Return strings, numbers, lists and dicts only."
        ) from None
    assert json.loads(text) == payload, (
        "to_payload() returned data that changes when it goes through JSON (a tuple, for"
        " instance): return what JSON gives back unchanged."
    )
    fields = payload
    if isinstance(payload, str):
        try:
            fields = json.loads(payload)
        except ValueError:
            fields = None
    assert isinstance(fields, dict) and fields.get("id") == str(the_order(learner).id), (
        "to_payload() returned an opaque blob, not the order's fields as JSON (such as"
        ' "id": "6f1c2a4e-..."): a pickle or other encoding wrapped in a string still runs'
        " or hides whatever it holds. Send the fields themselves."
    )


def test_malformed_data_fails_validation(learner):
    malformed = {"id": "ORDER-42", "placed_at": "31/01/2030",
                 "lines": [{"sku": "PEAR", "quantity": 0, "unit_price": "a lot"}]}  # fmt: skip
    try:
        made = learner.from_payload(malformed)
    except ValidationError:
        return
    except Exception as exc:
        raise AssertionError(
            f"from_payload() failed on malformed data with {type(exc).__name__}, not pydantic's"
            " ValidationError: validate the payload with the Order model."
        ) from None
    raise AssertionError(
        f"from_payload() accepted malformed data (an id that is no UUID, a quantity of 0) and"
        f" returned {made!r:.80}: it builds an Order without validating it."
    )


@pytest.mark.parametrize("queue", ["Celery", "RQ", "Dramatiq"])
def test_the_task_sees_an_equal_order(learner, workers, queue):
    order = the_order(learner)
    send = {"Celery": learner.send_celery, "RQ": learner.send_rq, "Dramatiq": learner.send_dramatiq}
    try:
        sent = send[queue](order)
    except Exception as exc:
        raise AssertionError(
            f"Sending the order through {queue} raised {type(exc).__name__}: {exc}. JSON cannot"
            " carry a UUID, a datetime or a Decimal: to_payload() must return plain JSON data."
        ) from None
    seen = result_of(queue, sent, learner, workers[queue])
    want = expected(learner)
    assert seen["type"] == "Order", (
        f"Through {queue}, the task got a {seen['type']}, not an Order: from_payload() must"
        " return an Order."
    )
    for field, what in (
        ("prices", "the prices (Decimal, every digit: a float keeps about 16)"),
        ("placed_at", "placed_at (a datetime with its own UTC offset, -05:00, not converted)"),
        ("lines", "the lines (a tuple of Line)"),
        ("id", "the id (a UUID)"),
    ):
        assert seen[field] == want[field], (
            f"Through {queue}, the task saw {field} as {seen[field]!r}, not {want[field]!r}:"
            f" {what} did not survive the trip."
        )
