"""Checks for exercise 07: a chord, checked by its structure, on a real Celery worker
(4 threads) with a real Redis.

The check watches the tasks' own records (record() is wrapped): each resize is held at its
end until publish() has returned and every resize of the album has started, and the resizes
return names the check makes unguessable (a token is added to what resize returns).
"Correct" means:
1. publish() returns while the resizes are still running: it waits for nothing (a publish()
   that waits for the group cannot return while the resizes are held);
2. the resizes run side by side: every one starts before any ends;
3. publish_album runs once, after the last resize has ended;
4. publish_album gets what the resizes returned, in the photos' order, and publish()'s
   AsyncResult gives publish_album's return value;
5. the workflow lives in Celery, not in the caller: publish() called by a process that
   ends at once (as a web process may) still gets its album published by the worker.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import threading
import uuid

import pytest

import workbook as wb
from app_snippets.settings import seconds

PHOTOS = [11, 12, 13, 14]
LATER = [21, 22, 23]  # the album published by a process that ends at once
RESIZE = seconds(1)
HOLD = 10  # seconds a resize waits, at most, at its end (see the module's docstring)
WITHIN = 20 + 4 * RESIZE
LATER_WITHIN = 10 + 3 * RESIZE  # the later album: its caller has ended, the worker is free


class Watch:
    """What the tasks recorded, in order, and the hold on the album's resizes."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.changed = threading.Condition()
        self.published_returned = False
        self.held_out: list[str] = []  # why a hold ran out: what it was waiting for

    def record(self, original, event: str, value: object) -> None:
        if event == "resize_ended" and value in PHOTOS:
            self._hold()
        with self.changed:
            self.events.append((event, str(value)))
            self.changed.notify_all()
        original(event, value)

    def _started(self) -> int:
        return sum(e == "resize_started" and int(v) in PHOTOS for e, v in self.events)

    def _hold(self) -> None:
        with self.changed:
            if self.held_out:  # one hold that ran out is enough to tell
                return
            ready = self.changed.wait_for(
                lambda: self.published_returned and self._started() == len(PHOTOS), HOLD
            )
            if not ready:
                self.held_out.append(
                    "publish() to return" if not self.published_returned else "every resize"
                )

    def returned(self) -> None:
        with self.changed:
            self.published_returned = True
            self.changed.notify_all()

    def of(self, event: str, photos: list[int] | None = None) -> list[int]:
        """Indexes in self.events of `event` (for `photos` only, when given)."""
        return [
            i
            for i, (e, v) in enumerate(self.events)
            if e == event and (photos is None or int(v) in photos)
        ]


@pytest.fixture(scope="module")
def run(learner, redis_server):
    monkeypatch = pytest.MonkeyPatch()
    watch = Watch()
    token = uuid.uuid4().hex[:10]
    original_record, original_resize = learner.record, learner.resize.run
    monkeypatch.setattr(learner, "record", lambda e, v: watch.record(original_record, e, v))
    # The tracer is built at a task's first run, after this: the worker runs the wrapper.
    monkeypatch.setattr(learner.resize, "run", lambda p: f"{original_resize(p)}?v={token}")
    worker = wb.celery_worker(learner.celery_app, concurrency=4)
    store = redis_server.client()
    store.delete("ex07:resize_started", "ex07:resize_ended", "ex07:published")
    expected = [f"thumbs/{p}.jpg?v={token}" for p in PHOTOS]
    result = value = None
    try:
        result = learner.publish("summer", PHOTOS)
        watch.returned()
        value = result.get(timeout=WITHIN) if hasattr(result, "get") else result
    except Exception as error:  # publish()'s or the task's own error, for the checks to explain
        value = error
    watch.returned()
    outcome = {"result": result, "value": value, "watch": watch, "worker": worker,
               "learner": learner, "expected": expected, "token": token}  # fmt: skip
    yield outcome
    worker.stop()
    monkeypatch.undo()
    outcome.clear()  # unsubscribe from the results now, while Redis still runs
    del result
    gc.collect()


def test_publish_completes(run):
    value, worker = run["value"], run["worker"]
    assert not isinstance(value, Exception), (
        f"publish(), or waiting for its result, raised {value!r}.\nWorker log:\n{worker.logs(12)}"
    )


def test_publish_does_not_wait_for_the_resizes(run):
    assert "publish() to return" not in run["watch"].held_out, (
        f"publish() returned only after the resizes had ended (the check held them for {HOLD}"
        " s, until publish() returned): it waited for them itself. Send the whole workflow"
        " and return at once; Celery runs the callback."
    )


def test_the_resizes_run_side_by_side(run):
    watch = run["watch"]
    started = watch.of("resize_started", PHOTOS)
    assert len(started) == len(PHOTOS), (
        f"resize ran {len(started)} times for {len(PHOTOS)} photos: once per photo."
    )
    assert "every resize" not in watch.held_out, (
        "The resizes ran one after another: a resize had to end before the others could"
        f" start (the check held it for {HOLD} s). Send them all at once, as a group, so that"
        " the worker runs them side by side."
    )


def test_the_album_is_published_once_after_the_last_resize(run):
    watch = run["watch"]
    published = [i for i in watch.of("published") if watch.events[i][1] == "summer"]
    ended = watch.of("resize_ended", PHOTOS)
    assert len(published) == 1, (
        f"publish_album ran {len(published)} times: it should run once, for the whole album."
    )
    assert ended and published[0] > max(ended), (
        "publish_album ran before the last resize had ended: it must wait for all of them."
    )


def test_publish_album_gets_what_the_resizes_returned(run):
    value, expected = run["value"], run["expected"]
    thumbnails = value.get("thumbnails") if isinstance(value, dict) else None
    assert thumbnails == expected, (
        f"publish_album was given the thumbnails {thumbnails}, not what the resizes returned"
        " (the check adds a token to each, so no name can be guessed), in the photos' order:"
        " the callback must receive the group's results."
    )
    assert value == {"album": "summer", "thumbnails": expected}, (
        f"publish()'s AsyncResult gave {value!r}: it should be publish_album's return value."
    )


CALLER = """
import os, sys
import ex07_album_chord as learner
result = learner.publish("later", [int(p) for p in sys.argv[1:]])
print(result.id, flush=True)
os._exit(0)  # at once, as a web process that is stopped or restarted
"""


def test_the_workflow_outlives_the_process_that_started_it(run):
    learner, worker = run["learner"], run["worker"]
    caller = subprocess.run(
        [sys.executable, "-c", CALLER, *map(str, LATER)],
        capture_output=True,
        text=True,
        timeout=WITHIN,
        env=os.environ.copy(),
    )
    assert caller.returncode == 0 and caller.stdout.strip(), (
        f"A process calling publish() failed:\n{caller.stderr[-1500:]}"
    )
    result = learner.celery_app.AsyncResult(caller.stdout.strip().splitlines()[-1])
    try:
        value = result.get(timeout=LATER_WITHIN)
    except Exception as error:
        value = error
    expected = {"album": "later", "thumbnails": [f"thumbs/{p}.jpg?v={run['token']}" for p in LATER]}
    assert value == expected, (
        "When the process that called publish() ended right after it returned, the album was"
        f" never published (its result: {value!r}): the workflow waited in that process, and"
        " died with it. Hand the whole workflow to Celery, so that the worker finishes it."
        f"\nWorker log:\n{worker.logs(8)}"
    )
