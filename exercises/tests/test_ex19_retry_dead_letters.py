"""Checks for exercise 19: backoff_delay grows, stays under its cap and is jittered; through a
real Celery worker, a task against a warehouse that stays down is attempted MAX_RETRIES + 1
times and lands once on the dead-letter list; a replay sends each letter once."""

from __future__ import annotations

import importlib
import json
import statistics
import time

import pytest

import workbook as wb

SAMPLES = 400


@pytest.fixture(scope="module")
def learner(redis_server):
    return importlib.import_module("ex19_retry_dead_letters")  # after Redis: reads REDIS_URL


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


def wait_for_letters(store, learner, worker, count: int) -> list[dict]:
    deadline = time.monotonic() + 20 + (learner.MAX_RETRIES + 1) * learner.MAX_DELAY
    while len(dead_letters(store, learner)) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(learner.MAX_DELAY + 0.5)  # a task still retrying would show up by now
    letters = dead_letters(store, learner)
    assert len(letters) >= count, (
        f"With the warehouse down for good, {len(letters)} of {count} tasks reached the"
        f" dead-letter list ({learner.DEAD_LETTERS}) within the time: after MAX_RETRIES"
        f" retries a task must stop and dead-letter itself.\nWorker log:\n{worker.logs(20)}"
    )
    return letters


def test_a_dependency_down_for_good_ends_in_dead_letters(learner, store, worker):
    store.set("ex19:down", 1)
    skus = [f"sku-{n}" for n in range(6)]
    for sku in skus:
        learner.sync_stock.delay(sku)
    letters = wait_for_letters(store, learner, worker, len(skus))
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


def test_replay_sends_each_dead_letter_once(learner, store, worker):
    store.set("ex19:down", 1)
    skus = [f"replay-{n}" for n in range(4)]
    for sku in skus:
        learner.sync_stock.delay(sku)
    wait_for_letters(store, learner, worker, len(skus))
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
