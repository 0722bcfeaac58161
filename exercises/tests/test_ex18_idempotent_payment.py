"""Checks for exercise 18: through a real `celery worker` process, every order is charged
exactly once when the worker is killed mid-batch (and its tasks run again), when a client
sends an order twice, and when the card processor fails and the task retries; and the
idempotency keys expire.

One worker process serves the module (a start costs seconds on a busy machine): the kill test
kills it and starts it again; between tests only the exercise's keys (ex18:*) are deleted,
and "the task raised" counts the log's errors since the test began."""

from __future__ import annotations

import time
from collections import Counter

import pytest

import workbook as wb
from app_snippets.settings import seconds

TARGET = "ex18_idempotent_payment:celery_app"
ATTEMPTS = 5  # a kill can fall between two tasks: then the batch starts again
KNOWN = (
    "ex18:attempts", "ex18:outages", "ex18:charges", "ex18:receipts", "ex18",
    "unacked", "unacked_index",  # kombu's, while a message is not yet acknowledged
)  # fmt: skip


@pytest.fixture(scope="module")
def worker_process(learner, redis_server):
    """One `celery worker` process for the module (a start costs seconds on a busy machine);
    the kill test kills it and starts it again."""
    redis_server.client().flushdb()
    handle = wb.celery_worker(TARGET, process=True, pool="threads", concurrency=4)
    yield handle
    handle.stop()


@pytest.fixture
def store(redis_server, worker_process):
    """Redis without the last test's data. Not FLUSHDB: kombu's queue binding would go too,
    and the running worker's queue would no longer receive what the test sends."""
    client = redis_server.client()
    for key in list(client.scan_iter("ex18:*")):
        client.delete(key)
    return client


class Worker:
    """The module's worker, seen from one test: errors in its log count from the test's start."""

    def __init__(self, handle) -> None:
        self.handle = handle
        self.before = self.errors()

    def __getattr__(self, name: str):
        return getattr(self.handle, name)

    def errors(self) -> int:
        return self.handle.logs(1_000_000).count("raised unexpected")


@pytest.fixture
def worker(worker_process, store) -> Worker:
    return Worker(worker_process)


def orders(prefix: str, count: int) -> list[str]:
    return [f"{prefix}-{n}" for n in range(count)]


def raised(worker) -> None:
    """Fail at once when the task raised an error it does not retry (your code's error)."""
    if worker.errors() > worker.before:
        pytest.fail(f"charge_order raised an error. Worker log:\n{worker.logs(30)}")


def settle(store, worker, expected: set[str], within: float) -> Counter:
    """Wait until every order has its receipt (its task finished at least once) and no
    charge is in flight; the charges per order."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if set(store.smembers("ex18:receipts")) >= expected:
            break
        raised(worker)
        time.sleep(0.02)
    time.sleep(0.3)  # a duplicate already running records its charge first
    charges = Counter(store.lrange("ex18:charges", 0, -1))
    missing = expected - set(store.smembers("ex18:receipts"))
    assert not missing, (
        f"{len(missing)} of {len(expected)} orders never finished (no receipt) within"
        f" {within:.0f} s: your task raised, or never charged them. Worker log:\n"
        f"{worker.logs(30)}"
    )
    return charges


def verdict(charges: Counter, expected: set[str], what: str) -> None:
    twice = sorted(order for order in expected if charges[order] > 1)
    never = sorted(order for order in expected if charges[order] == 0)
    assert not twice, (
        f"{what}: {len(twice)} of {len(expected)} customers were charged twice or more"
        f" ({', '.join(twice[:3])}...). The second run of a task must find that the order was"
        " charged already."
    )
    assert not never, (
        f"{what}: {len(never)} of {len(expected)} customers were never charged"
        f" ({', '.join(never[:3])}...), although their task finished."
    )


def test_a_killed_worker_charges_nobody_twice(learner, store, worker):
    batch = orders("kill", 12)
    for attempt in range(ATTEMPTS):
        if attempt:  # the last attempt's kill fell between two tasks: afresh
            store.flushdb()
            worker.restart()
        for order in batch:
            learner.charge_order.delay(order, 1999)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            charged = set(store.lrange("ex18:charges", 0, -1))
            in_flight = charged - set(store.smembers("ex18:receipts"))
            if len(charged) >= 4 and in_flight:
                break
            raised(worker)
            time.sleep(0.005)
        else:
            pytest.fail(
                "Fewer than 4 orders were charged within 20 s: your task raises, or never"
                f" charges. Worker log:\n{worker.logs(30)}"
            )
        worker.kill()  # SIGKILL mid-batch: charged, the receipt not sent, not acknowledged
        in_flight = set(store.lrange("ex18:charges", 0, -1)) - set(store.smembers("ex18:receipts"))
        if in_flight:
            break
    # A kill that falls inside kombu's restore sweep leaves its lock held for 300 s: the
    # check frees it, so that the verdict does not depend on where the kill fell.
    store.delete("unacked_mutex")
    worker.restart()
    within = learner.VISIBILITY_TIMEOUT + 15 + len(batch) * seconds(0.5)
    charges = settle(store, worker, set(batch), within)
    verdict(charges, set(batch), "After the worker was killed mid-batch and restarted")


def test_an_order_sent_twice_is_charged_once(learner, store, worker):
    batch = orders("double", 6)
    for order in batch:  # a double click: two messages, two task ids, one order
        learner.charge_order.delay(order, 1999)
        learner.charge_order.delay(order, 1999)
    charges = settle(store, worker, set(batch), 20 + len(batch) * seconds(0.5))
    verdict(charges, set(batch), "When a client sent each order twice")


def test_a_charge_that_failed_is_retried_and_charged(learner, store, worker):
    batch = orders("outage", 6)
    for order in batch[::2]:  # the card processor fails these orders' first 2 attempts
        store.hset("ex18:outages", order, 2)
    for order in batch:
        learner.charge_order.delay(order, 1999)
    charges = settle(store, worker, set(batch), 20 + len(batch) * seconds(0.5))
    verdict(charges, set(batch), "When the card processor failed and the task retried")


def test_the_idempotency_keys_expire(learner, store, worker):
    batch = orders("expiry", 3)
    for order in batch:
        learner.charge_order.delay(order, 1999)
    settle(store, worker, set(batch), 20 + len(batch) * seconds(0.5))
    forever = [
        key
        for key in store.scan_iter()
        if key not in KNOWN and not key.startswith("_kombu") and store.ttl(key) == -1
    ]
    assert not forever, (
        f"Your task left keys that never expire ({', '.join(sorted(forever)[:3])}): one per"
        " order, for ever, fills Redis. Give the claim an expiry (IDEMPOTENCY_TTL) in the"
        " same command that sets it."
    )
    ttls = [store.ttl(key) for key in store.scan_iter() if key not in KNOWN]
    assert any(ttl > 0 for ttl in ttls), (
        "No key with an expiry was found: claim each order's key in Redis with SET NX and"
        " an expiry."
    )
