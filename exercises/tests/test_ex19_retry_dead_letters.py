"""Checks for exercise 19: backoff_delay grows, stays under its cap and is jittered; through a
real Celery worker, a task against a warehouse that stays down is attempted MAX_RETRIES + 1
times and lands once on the dead-letter list; a replay sends each letter once.

Judged when each task's last run ended (the worker's task_postrun event, state not RETRY),
not after a wait long enough for any retry: a task that gives up without a dead letter is
seen the moment it gives up, and one that keeps retrying is still waited for."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Iterator

import pytest
from celery import states
from celery.signals import task_postrun

import workbook as wb

SAMPLES = 400


@pytest.fixture
def store(redis_server):
    client = redis_server.client()
    client.flushdb()
    return client


@pytest.fixture
def worker(learner, store):
    handle = wb.celery_worker(learner.celery_app, concurrency=8)
    yield handle
    handle.stop()


@pytest.fixture
def ended(worker) -> Iterator[set[str]]:
    """The ids of the tasks whose last run ended (a success, or a failure not retried), as
    the worker (a thread of this process) reports them: a task that gave up is known the
    moment it does, not after a wait long enough for any retry."""
    ids: set[str] = set()

    def record(task_id: str, state: str | None = None, **_: object) -> None:
        if state != states.RETRY:
            ids.add(task_id)

    task_postrun.connect(record, weak=False)
    yield ids
    task_postrun.disconnect(record)


def test_backoff_grows_is_capped_and_jittered(learner):
    means = []
    for retries in range(8):
        ceiling = min(learner.MAX_DELAY, learner.BASE_DELAY * 2**retries)
        delays = [learner.backoff_delay(retries) for _ in range(SAMPLES)]
        assert all(0 <= d <= ceiling + 1e-9 for d in delays), (
            f"backoff_delay({retries}) gave {max(delays):.3f} s: it should stay between 0 and"
            f" {ceiling:.3f} s (BASE_DELAY doubled per retry, never over MAX_DELAY)."
        )
        assert len(set(delays)) > SAMPLES // 2, (
            f"backoff_delay({retries}) gave the same few values every time: without jitter,"
            " tasks that failed together retry together, in waves."
        )
        means.append(statistics.fmean(delays))
    assert means[3] > 3 * means[0] and means[2] > 1.5 * means[1], (
        f"The average delay after 0, 1, 2, 3 retries was {[round(m, 3) for m in means[:4]]} s:"
        " it should double with each retry (exponential backoff)."
    )


def dead_letters(store, learner) -> list[dict]:
    return [json.loads(raw) for raw in store.lrange(learner.DEAD_LETTERS, 0, -1)]


def wait_for_letters(store, learner, worker, ended: set[str], results: list) -> list[dict]:
    """Wait until every task in `results` has ended for good; the dead letters then."""
    expected = {result.id for result in results}
    deadline = time.monotonic() + 20 + (learner.MAX_RETRIES + 1) * learner.MAX_DELAY
    while not expected <= ended and time.monotonic() < deadline:
        time.sleep(0.02)
    letters = dead_letters(store, learner)
    assert len(letters) >= len(results), (
        f"With the warehouse down for good, {len(letters)} of {len(results)} tasks reached the"
        f" dead-letter list ({learner.DEAD_LETTERS}) when they gave up: after MAX_RETRIES"
        f" retries a task must stop and dead-letter itself.\nWorker log:\n{worker.logs(20)}"
    )
    return letters


def test_a_dependency_down_for_good_ends_in_dead_letters(learner, store, worker, ended):
    store.set("ex19:down", 1)
    skus = [f"sku-{n}" for n in range(6)]
    results = [learner.sync_stock.delay(sku) for sku in skus]
    letters = wait_for_letters(store, learner, worker, ended, results)
    attempts = {sku: store.llen(f"ex19:attempts:{sku}") for sku in skus}
    wrong = {sku: n for sku, n in attempts.items() if n != learner.MAX_RETRIES + 1}
    assert not wrong, (
        f"Attempts per task {wrong}: with MAX_RETRIES = {learner.MAX_RETRIES}, each task"
        f" should be tried {learner.MAX_RETRIES + 1} times (the first try and"
        f" {learner.MAX_RETRIES} retries), then given up."
    )
    args = sorted(tuple(letter.get("args", ())) for letter in letters)
    assert args == sorted((sku,) for sku in skus), (
        f"The dead-letter list holds args {args[:4]}...: one letter per task that gave up,"
        ' each {"args": [sku], "error": ...}, so that it can be sent again.'
    )
    assert all("warehouse unreachable" in str(letter.get("error")) for letter in letters), (
        "Each dead letter should say why the task gave up (its error)."
    )


def test_replay_sends_each_dead_letter_once(learner, store, worker, ended):
    store.set("ex19:down", 1)
    skus = [f"replay-{n}" for n in range(4)]
    results = [learner.sync_stock.delay(sku) for sku in skus]
    wait_for_letters(store, learner, worker, ended, results)
    store.delete("ex19:down")  # the warehouse is back
    sent = learner.replay_dead_letters()
    again = learner.replay_dead_letters()
    assert sent == len(skus), (
        f"replay_dead_letters() said it sent {sent} of {len(skus)} dead letters."
    )
    assert again == 0 and not dead_letters(store, learner), (
        f"A second replay sent {again} letters, and {len(dead_letters(store, learner))} are"
        " still on the list: take each letter off the list when you send it, or every replay"
        " sends it again."
    )
    deadline = time.monotonic() + 20
    while store.scard("ex19:synced") < len(skus) and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)
    synced = store.smembers("ex19:synced")
    assert synced == set(skus), (
        f"After the replay, {len(synced)} of {len(skus)} products were synced: each letter"
        f" must send sync_stock again with its args.\nWorker log:\n{worker.logs(20)}"
    )
    tries = {sku: store.llen(f"ex19:attempts:{sku}") for sku in skus}
    assert all(n == learner.MAX_RETRIES + 2 for n in tries.values()), (
        f"Attempts per product {tries}: each replayed letter should run once more."
    )
