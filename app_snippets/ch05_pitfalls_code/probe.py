"""The serialization probe: one task, on every queue, that says what it received.

`describe` runs in the worker and reports the type and the repr of its argument; the
caller compares that with the same description of what it sent. `trip` sends one value
through one queue and returns where it failed, or how it arrived.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

import dramatiq
from dramatiq.results import ResultFailure, ResultMissing
from pydantic import BaseModel
from starlette.requests import Request

from app_snippets.ch05_pitfalls_code.brokers import broker, celery_app, results_backend, rq_queue

PROBE_QUEUE = "ch05-probe"
PROBE_JSON_QUEUE = "ch05-probe-json"


def describe(value: object) -> dict[str, str]:
    """The type and repr of `value` (a digest of the repr when it is long).

    A pydantic model is described by its JSON, which names every field's exact value (its
    repr would also show which tzinfo class holds an offset, which is not part of the value).
    """
    text = value.model_dump_json() if isinstance(value, BaseModel) else repr(value)
    if len(text) > 120:
        digest = hashlib.sha256(text.encode()).hexdigest()[:10]
        text = f"{text[:40]}... ({len(text):,} chars, sha256 {digest})"
    return {"type": type(value).__qualname__, "repr": text}


celery_describe = celery_app.task(name="ch05.describe")(describe)
dramatiq_describe = dramatiq.actor(
    describe,
    broker=broker,
    actor_name="ch05_describe",
    queue_name=PROBE_QUEUE,
    store_results=True,
    max_retries=0,
)


@dataclass
class Point:
    x: int
    y: int


class Customer(BaseModel):
    id: int
    email: str


def samples() -> dict[str, Callable[[], object]]:
    """What the matrix sends, made fresh for every trip (a connection cannot be shared)."""

    async def receive() -> dict[str, Any]:  # a server's channel to the client's connection
        return {"type": "http.request", "body": b"", "more_body": False}

    request_scope = {"type": "http", "method": "POST", "path": "/orders", "headers": [],
                     "query_string": b"", "client": ("127.0.0.1", 5000)}  # fmt: skip
    return {
        "tuple": lambda: (1, 2),
        "nested tuple": lambda: {"pairs": ((1, "a"), (2, "b"))},
        "set": lambda: {3, 1, 2},
        "datetime (UTC)": lambda: datetime(2030, 1, 31, 9, 30, tzinfo=timezone.utc),
        "date": lambda: date(2030, 1, 31),
        "Decimal": lambda: Decimal("19.99"),
        "UUID": lambda: uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "bytes": lambda: b"\x89PNG",
        "dataclass": lambda: Point(1, 2),
        "pydantic model": lambda: Customer(id=42, email="ada@example.com"),
        "FastAPI Request": lambda: Request(request_scope, receive),
        "DB connection": lambda: sqlite3.connect(":memory:", check_same_thread=False),
        "lambda": lambda: lambda order: order,
        "1 MB payload": lambda: {"rows": ["x" * 1000] * 1000},
    }


def _celery(app: Any, task: str, value: object, serializer: str) -> Callable[[], dict | None]:
    result = app.tasks[task].apply_async((value,), serializer=serializer)

    def poll() -> dict | None:
        if not result.ready():
            return None
        if result.failed():
            raise WorkerError(type(result.result).__name__)
        return result.result

    return poll


def _rq(
    queue: str, function: Callable, value: object, serializer: str | None
) -> Callable[[], dict | None]:
    job = rq_queue(queue, serializer).enqueue(function, value)

    def poll() -> dict | None:
        status = job.get_status(refresh=True)
        if status == "finished":
            return job.return_value()
        if status == "failed":
            latest = job.latest_result()
            last_line = latest.exc_string.strip().splitlines()[-1] if latest else "failed"
            raise WorkerError(last_line.split(":")[0])
        return None

    return poll


def _dramatiq(actor: dramatiq.Actor, value: object) -> Callable[[], dict | None]:
    message = actor.send(value)

    def poll() -> dict | None:
        try:
            return message.get_result(backend=results_backend)
        except ResultMissing:
            return None
        except ResultFailure as exc:
            raise WorkerError(exc.orig_exc_type) from None

    return poll


class WorkerError(Exception):
    """The worker took the message and failed (the argument is the exception's type)."""


def trip(queue: str, value: object, *, dto: bool = False, timeout: float = 15.0) -> str:
    """Send `value` through `queue` and say what happened, in a few words.

    queue: "celery json", "celery pickle", "rq pickle", "rq json" or "dramatiq json".
    dto=True sends an Order the fixed way (orders.to_message, validated in the task).
    The workers must run: this only sends and waits for the task's answer.
    """
    from app_snippets.ch05_pitfalls_code import orders
    from app_snippets.ch05_pitfalls_code.unsafe import celery_pickle_app

    task, function, actor = ("ch05.describe", describe, dramatiq_describe)
    rq_queues = {"rq pickle": PROBE_QUEUE, "rq json": PROBE_JSON_QUEUE}
    if dto:
        task, function = "ch05.confirm_order", orders.confirm_order
        actor = orders.dramatiq_confirm_order
        rq_queues = {"rq pickle": orders.ORDERS_QUEUE, "rq json": orders.ORDERS_JSON_QUEUE}
    senders = {
        "celery json": lambda item: _celery(celery_app, task, item, "json"),
        "celery pickle": lambda item: _celery(celery_pickle_app, task, item, "pickle"),
        "rq pickle": lambda item: _rq(rq_queues["rq pickle"], function, item, None),
        "rq json": lambda item: _rq(rq_queues["rq json"], function, item, "json"),
        "dramatiq json": lambda item: _dramatiq(actor, item),
    }
    try:
        poll = senders[queue](orders.to_message(value) if dto else value)
    except Exception as exc:
        cause = exc.__cause__ or exc.__context__
        inner = f" ({type(cause).__name__})" if cause and type(cause) is not type(exc) else ""
        return f"✗ at enqueue: {type(exc).__name__}{inner}"
    deadline = time.monotonic() + timeout
    try:
        while (received := poll()) is None:
            if time.monotonic() > deadline:
                return f"✗ no answer in {timeout:g} s"
            time.sleep(0.02)
    except WorkerError as exc:
        return f"✗ in the worker: {exc}"
    sent = describe(value)
    if received == sent:
        return "✓ equal"
    if received["type"] != sent["type"]:
        return f"~ arrives as {received['type']}"
    return f"~ changed: {received['repr'][:40]}"
