"""Checks for exercise 07: publish() returns at once; the resizes run side by side on a real
Celery worker (4 threads); publish_album runs once, after the last resize, with every
thumbnail in order."""

from __future__ import annotations

import gc
import importlib
import time

import pytest

import workbook as wb
from app_snippets.settings import seconds

PHOTOS = [11, 12, 13, 14]
RESIZE = seconds(1)


@pytest.fixture(scope="module")
def run(redis_server):
    learner = importlib.import_module("ex07_album_chord")  # after Redis: reads REDIS_URL
    worker = wb.celery_worker(learner.celery_app, concurrency=4)
    store = redis_server.client()
    store.delete("ex07:resize_started", "ex07:resize_ended", "ex07:published")
    started = time.time()  # the clock the tasks' records use
    returned = None
    try:
        result = learner.publish("summer", PHOTOS)
        returned = time.time()
        value = result.get(timeout=10 + 4 * RESIZE) if hasattr(result, "get") else result
    except Exception as error:  # publish()'s or the task's own error, for the checks to explain
        result, value = None, error
    returned = returned or time.time()
    outcome = {"result": result, "value": value, "started": started, "returned": returned,
               "store": store, "worker": worker}  # fmt: skip
    yield outcome
    worker.stop()
    outcome.clear()  # unsubscribe from the results now, while Redis still runs
    del result
    gc.collect()


def events(store, name: str) -> list[tuple[float, str]]:
    return [
        (float(t), v) for t, _, v in (e.partition(" ") for e in store.lrange(f"ex07:{name}", 0, -1))
    ]


def test_publish_returns_the_callbacks_result(run):
    value, worker = run["value"], run["worker"]
    assert not isinstance(value, Exception), (
        f"Waiting for publish()'s result raised {value!r}.\nWorker log:\n{worker.logs(12)}"
    )
    expected = {"album": "summer", "thumbnails": [f"thumbs/{p}.jpg" for p in PHOTOS]}
    assert value == expected, (
        f"publish()'s AsyncResult gave {value!r}: it should be publish_album's return value,"
        " with every thumbnail, in the order of the photos."
    )


def test_publish_does_not_wait_for_the_resizes(run):
    # Compared with the first resize's end, not with a time limit: the first publish() of a
    # run also connects to Redis and sets up the result backend, which can be slow.
    ended = [t for t, _ in events(run["store"], "resize_ended")]
    first_ended = min(ended, default=run["started"] + RESIZE)
    assert run["returned"] < first_ended, (
        f"publish() took {run['returned'] - run['started']:.2f} s to return, and returned after"
        " a resize had ended: it waited for the resizes itself. Send the whole workflow and"
        " return at once; Celery runs the callback."
    )


def test_the_resizes_run_side_by_side(run):
    started = [t for t, _ in events(run["store"], "resize_started")]
    ended = [t for t, _ in events(run["store"], "resize_ended")]
    assert len(started) == len(PHOTOS), (
        f"resize ran {len(started)} times for {len(PHOTOS)} photos: once per photo."
    )
    assert max(started) < min(ended), (
        "The resizes ran one after another: each started after another had ended. Send them"
        " all at once, as a group, so that the worker runs them side by side."
    )


def test_the_album_is_published_once_after_the_last_resize(run):
    published = events(run["store"], "published")
    ended = [t for t, _ in events(run["store"], "resize_ended")]
    assert len(published) == 1, (
        f"publish_album ran {len(published)} times: it should run once, for the whole album."
    )
    assert ended and published[0][0] >= max(ended), (
        "publish_album ran before the last resize had ended: it must wait for all of them."
    )
