"""Checks for exercise 02: the thumbnail is still made, after the upload's answer, and the
server keeps answering while it is.

"Correct" means, for one POST /uploads/{name} (make_thumbnail is watched by a probe):
1. make_thumbnail is called for that image;
2. it runs after the POST has been answered, as the upload's background task (not inside
   the POST handler);
3. it does not run on the server's event loop;
4. while it runs, the server answers GET /ping: the check holds make_thumbnail at its start
   until a ping has been answered (a task that waits for a thread while holding the loop
   cannot let the ping through);
5. the thumbnail recorded is what make_thumbnail returned (the check makes that value
   unguessable), so the work was really used.
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import Probe, Served

from app_snippets.settings import seconds

SLOW = seconds(2)  # how long make_thumbnail takes
WITHIN = 2 * SLOW + 10  # generous: a busy machine adds its share
HOLD = 10  # seconds make_thumbnail waits, at most, for the check's ping to be answered


@pytest.fixture(scope="module")
def upload(learner):
    """One upload, followed to its end: (probe, name, server, the ping's answer or None)."""
    monkeypatch = pytest.MonkeyPatch()
    token = uuid.uuid4().hex[:10]
    thumbnails = Probe(
        monkeypatch, learner, "make_thumbnail", result=lambda value: f"{value}?v={token}"
    )
    api = Served(learner.app)
    name = f"photo-{uuid.uuid4().hex[:6]}.jpg"
    thumbnails.hold(HOLD)
    ping = None
    with ThreadPoolExecutor(1) as pool:  # the POST may wait (a wrong answer): not us
        posted = pool.submit(api.request, "POST", f"/uploads/{name}", "POST /uploads/{name}")
        if thumbnails.started(WITHIN, unless=api.raised):
            try:
                ping = api.client.get("/ping", timeout=HOLD + WITHIN)
            finally:
                thumbnails.release()
        thumbnails.release()
        posted.result()
    if thumbnails.calls:
        thumbnails.ended(WITHIN + HOLD, unless=api.raised)
    yield thumbnails, name, api, ping
    api.client.close()
    api.handle.stop()
    monkeypatch.undo()


def the_call(upload):
    thumbnails, name, api, _ = upload
    calls = [c for c in thumbnails.calls if c.given(name)]
    assert calls, (
        f"After POST /uploads/{name}, make_thumbnail was never called (within {WITHIN:.0f}"
        f" s): the upload's task no longer makes the thumbnail.\n{api.log()}"
    )
    return calls[0]


def test_the_thumbnail_is_made(upload):
    the_call(upload)


def test_the_thumbnail_is_made_after_the_upload_is_answered(upload):
    call = the_call(upload)
    assert call.request is None or call.answered_before, (
        "make_thumbnail ran before POST /uploads/{name} had answered: the upload waits for"
        " the thumbnail. Keep the work in the background task."
    )


def test_the_thumbnail_is_not_made_on_the_event_loop(upload):
    call = the_call(upload)
    assert not call.on_loop, (
        f"make_thumbnail ran on the server's event loop: for the {SLOW:.1f} s it takes, the"
        " server answers no one. The blocking call must run somewhere else than on the loop."
    )


def test_the_server_answers_while_the_thumbnail_is_made(upload):
    call = the_call(upload)
    _, _, api, ping = upload
    assert not call.held_out and ping is not None and ping.status_code == 200, (
        f"GET /ping got no answer while make_thumbnail was running (the check waited {HOLD}"
        " s): the task runs the thumbnail elsewhere, but still holds the event loop while it"
        f" waits for it. Await it instead.\n{api.log()}"
    )


def test_the_thumbnail_recorded_is_what_make_thumbnail_made(upload):
    call = the_call(upload)
    _, name, api, _ = upload
    assert call.error is None, f"make_thumbnail raised {call.error!r}.\n{api.log()}"
    deadline = time.monotonic() + WITHIN  # the task stores the value just after the call
    while True:
        recorded = api.request("GET", f"/uploads/{name}", "GET /uploads/{name}").json()
        if recorded.get("thumbnail") or api.raised() or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert recorded.get("thumbnail") == call.result, (
        f"GET /uploads/{name} reads {recorded}, but make_thumbnail returned {call.result!r}:"
        " the task must record the thumbnail that make_thumbnail made."
    )
