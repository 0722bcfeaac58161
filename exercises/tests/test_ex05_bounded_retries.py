"""Checks for exercise 05: sync_stock retries a ConnectionError at most 3 times, with waits of
about 1, 2 and 4 s, succeeds when the API comes back, and ends in FAILURE when it does not.
Both tasks run at the same time on a real Celery worker (in a thread) with a real Redis."""

from __future__ import annotations

import gc
import importlib
import itertools
import time

import pytest

import workbook as wb

WAIT = 1 + 2 + 4 + 4  # the waits of 3 retries, and some slack for a slow machine


@pytest.fixture(scope="module")
def run(redis_server):
    """Start one flaky and one dead SKU at once; yield what the checks read."""
    learner = importlib.import_module("ex05_bounded_retries")  # after Redis: reads REDIS_URL
    worker = wb.celery_worker(learner.celery_app)
    store = redis_server.client()
    store.delete("ex05:attempts:flaky-1", "ex05:attempts:down-1")
    results = {sku: learner.sync_stock.delay(sku) for sku in ("flaky-1", "down-1")}
    yield learner, worker, store, results
    worker.stop()
    results.clear()  # unsubscribe from their results now, while Redis still runs
    gc.collect()


def attempts(store, sku: str) -> list[float]:
    return [float(t) for t in store.lrange(f"ex05:attempts:{sku}", 0, -1)]


def follow(run, sku: str) -> tuple[str, list[float]]:
    """Wait for the task to end (or to go on too long): (state, attempt times)."""
    _, _, store, results = run
    deadline = time.monotonic() + WAIT
    while (
        time.monotonic() < deadline and not results[sku].ready() and len(attempts(store, sku)) <= 4
    ):
        time.sleep(0.05)
    time.sleep(0.2)  # a fifth attempt right after the fourth would show now
    result = results[sku]
    error = result.result if result.failed() else None
    assert not isinstance(error, NotImplementedError), f"The task raised {error!r}."
    return result.state, attempts(store, sku)


def gaps(times: list[float]) -> list[float]:
    return [round(b - a, 2) for a, b in itertools.pairwise(times)]


def test_a_dead_api_ends_in_failure_after_exactly_3_retries(run):
    state, times = follow(run, "down-1")
    _, worker, _, results = run
    assert len(times) > 1 or state != "SUCCESS", (
        "sync_stock called the dead API once and ended as SUCCESS: the ConnectionError never"
        " reached Celery (is it caught?), so nothing could retry it."
    )
    assert len(times) > 1, (
        f"sync_stock called the dead API once and stopped (state {state}): it does not retry"
        f" on ConnectionError.\nWorker log:\n{worker.logs(12)}"
    )
    assert len(times) <= 4, (
        f"sync_stock called the dead API {len(times)} times and was still at it: the retries"
        " must stop after 3 (4 attempts in all), or a dead API is hammered forever."
    )
    assert len(times) == 4, (
        f"sync_stock called the dead API {len(times)} times in {WAIT} s, then no more (waits"
        f" {gaps(times)} s): 3 retries, waiting 1, 2 and 4 s, make 4 attempts."
    )
    assert state != "RETRY", (
        "After 4 attempts the task was still waiting for another retry (state RETRY): it"
        " must give up after 3 retries, so that it ends."
    )
    assert state == "FAILURE", (
        f"After its last retry the task ended as {state}, not FAILURE: let the ConnectionError"
        " propagate, so that the failure is recorded."
    )
    assert isinstance(results["down-1"].result, ConnectionError), (
        f"The task failed with {results['down-1'].result!r}, not with the API's ConnectionError."
    )


def test_the_waits_grow_exponentially(run):
    _, times = follow(run, "down-1")
    waits = gaps(times)
    expected = [1, 2, 4]
    assert all(abs(wait - want) < 0.6 for wait, want in zip(waits, expected, strict=False)), (
        f"The waits between attempts were {waits} s, not about {expected} s: use exponential"
        " backoff that starts at 1 s, without jitter."
    )


def test_a_flaky_api_succeeds_on_a_retry(run):
    state, times = follow(run, "flaky-1")
    _, worker, _, results = run
    assert state == "SUCCESS" and results["flaky-1"].result == 42, (
        f"A SKU whose API fails twice and then answers ended as {state} after"
        f" {len(times)} attempts: it should succeed on the third.\nWorker log:\n{worker.logs(12)}"
    )
