"""Checks for exercise 05: bounded retries with exponential backoff, for the right failures.

Three tasks run at the same time on a real Celery worker (in a thread) with a real Redis:
a flaky SKU (the API fails twice, then answers), a dead one (it never answers), and a SKU
sent as a number, a programming bug (the API's code raises AttributeError on it).
"Correct" means:
1. a dead API is called 4 times (3 retries), then the task ends in FAILURE with the API's
   ConnectionError (not left in RETRY, not another exception);
2. the waits between attempts are about 1, 2 and 4 s (exponential backoff, no jitter);
3. every attempt after the first is a Celery retry (a new run of the task, request.retries
   1, 2, 3, recorded by a probe on warehouse_api), not a loop that sleeps inside one run and
   holds a worker meanwhile;
4. a flaky API succeeds on the third attempt;
5. a programming bug is not retried: one call, then FAILURE with its own exception.
"""

from __future__ import annotations

import gc
import itertools
import time

import pytest
from celery import current_task
from conftest import Call, Probe

import workbook as wb

WAIT = 1 + 2 + 4 + 4  # the waits of 3 retries, and some slack for a slow machine
BUG = 12345  # a SKU sent as a number: warehouse_api's sku.startswith raises AttributeError
SKUS = ("flaky-1", "down-1", BUG)


@pytest.fixture(scope="module")
def run(learner, redis_server):
    """Start one flaky and one dead SKU at once; yield what the checks read."""
    monkeypatch = pytest.MonkeyPatch()

    def note_retries(call: Call) -> None:
        call.notes["retries"] = current_task.request.retries if current_task else None

    api = Probe(monkeypatch, learner, "warehouse_api", before=note_retries)
    worker = wb.celery_worker(learner.celery_app)
    store = redis_server.client()
    store.delete(*(f"ex05:attempts:{sku}" for sku in SKUS))
    results = {sku: learner.sync_stock.delay(sku) for sku in SKUS}
    yield learner, worker, store, results, api
    worker.stop()
    monkeypatch.undo()
    results.clear()  # unsubscribe from their results now, while Redis still runs
    api.calls.clear()  # their errors' tracebacks hold Celery's frames, and results in them
    gc.collect()


def attempts(store, sku: str | int) -> list[float]:
    return [float(t) for t in store.lrange(f"ex05:attempts:{sku}", 0, -1)]


def follow(run, sku: str | int) -> tuple[str, list[float]]:
    """Wait for the task to end (or to go on too long): (state, attempt times)."""
    _, _, store, results, _ = run
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
    _, worker, _, results, _ = run
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
    # A retry never comes before its countdown (the low bound is exact); a busy machine may
    # only make it later (the high bound is generous).
    assert all(
        want - 0.15 <= wait < want + 0.9 for wait, want in zip(waits, expected, strict=False)
    ), (
        f"The waits between attempts were {waits} s, not about {expected} s: use exponential"
        " backoff that starts at 1 s, without jitter."
    )


def test_every_retry_is_a_new_run_of_the_task(run):
    follow(run, "down-1")
    *_, api = run
    retries = [c.notes.get("retries") for c in api.calls if c.given("down-1")]
    assert retries == list(range(len(retries))), (
        f"The task's request.retries over the attempts were {retries}, not 0, 1, 2, 3: the"
        " attempts were made inside one run of the task, which sleeps between them and holds"
        " a worker the whole time. Let Celery retry the task: it frees the worker meanwhile."
    )


def test_a_programming_bug_is_not_retried(run):
    state, times = follow(run, BUG)
    *_, results, _ = run
    error = results[BUG].result
    assert len(times) == 1, (
        f"A programming error (AttributeError: a SKU sent as a number) was retried: the API was"
        f" called {len(times)} times for it. Retry only the failure that can pass by itself"
        " (ConnectionError); a bug fails the same way every time."
    )
    assert state == "FAILURE" and isinstance(error, AttributeError), (
        f"A task that hit a programming error ended as {state} with {error!r}: it should fail"
        " at once, with its own exception."
    )


def test_a_flaky_api_succeeds_on_a_retry(run):
    state, times = follow(run, "flaky-1")
    _, worker, _, results, _ = run
    assert state == "SUCCESS" and results["flaky-1"].result == 42, (
        f"A SKU whose API fails twice and then answers ended as {state} after"
        f" {len(times)} attempts: it should succeed on the third.\nWorker log:\n{worker.logs(12)}"
    )
