"""Checks for exercise 01: POST /signup answers first, and the welcome email goes out after.

"Correct" means, for one POST /signup (send_welcome_email is watched by a probe):
1. send_welcome_email is called for the address that signed up;
2. it starts only once the response to that POST has been sent: the client never waits
   for the email (seen from the request itself, not measured with a stopwatch);
3. it runs as that request's background work, which FastAPI runs after the response, not in
   a thread or process the code starts on its own (those outlive no request and are not
   waited for, and a crash there goes unnoticed);
4. it does not run on the server's event loop (an `async def` task that calls it blocks the
   server: for as long as the email takes, no other request is answered);
5. send_welcome_email itself is left as it is: it still takes the provider's time;
6. the address is in GET /outbox afterwards.
"""

from __future__ import annotations

import inspect
import uuid

import pytest
from conftest import Probe, Served

from app_snippets.settings import seconds

SLOW = seconds(2)  # how long sending the email takes
WITHIN = 2 * SLOW + 10  # generous: the work takes SLOW, a busy machine adds its share


@pytest.fixture(scope="module")
def signup(learner):
    """One POST /signup, followed to its end: (the probe, the address, the server)."""
    monkeypatch = pytest.MonkeyPatch()
    emails = Probe(monkeypatch, learner, "send_welcome_email")
    api = Served(learner.app)
    email = f"learner-{uuid.uuid4().hex[:8]}@example.com"
    api.request("POST", "/signup", "POST /signup", json={"email": email})
    if emails.started(WITHIN, unless=api.raised):
        emails.ended(WITHIN, unless=api.raised)
    yield emails, email, api
    api.client.close()
    api.handle.stop()
    monkeypatch.undo()


def the_call(signup):
    emails, email, api = signup
    calls = [c for c in emails.calls if c.given(email)]
    assert calls, (
        f"After POST /signup for {email}, send_welcome_email was never called (within"
        f" {WITHIN:.0f} s): the welcome email is no longer sent. Scheduled work that FastAPI"
        f" runs must be added to the BackgroundTasks the endpoint receives.\n{api.log()}"
    )
    return calls[0]


def test_the_welcome_email_is_sent(signup):
    the_call(signup)


def test_the_email_is_sent_after_the_response(signup):
    call = the_call(signup)
    assert call.request is None or call.answered_before, (
        "send_welcome_email ran before POST /signup had answered: the client still waits"
        " for the email. The response must go first, and the email after it."
    )


def test_the_email_is_fastapis_background_work(signup):
    call = the_call(signup)
    assert call.request is not None, (
        f"send_welcome_email ran outside the request (in thread {call.thread!r}, started by"
        " your code): nothing waits for such work or reports its errors. Let FastAPI run it"
        " after the response."
    )


def test_the_email_does_not_block_the_server(signup):
    call = the_call(signup)
    assert not call.on_loop, (
        f"send_welcome_email ran on the server's event loop: for the {SLOW:.1f} s it takes,"
        " the server answers no one, not even the next POST /signup. A blocking call must"
        " not run inside an async def task."
    )


def test_the_email_provider_is_left_as_it_is(signup):
    call = the_call(signup)
    took = (call.ended or call.started) - call.started
    assert not inspect.iscoroutinefunction(signup[0].original) and took >= 0.95 * SLOW, (
        f"send_welcome_email took {took:.2f} s; the email provider it stands for takes"
        f" {SLOW:.1f} s. Leave send_welcome_email as it is: change only where it is called."
    )
    assert call.error is None, f"send_welcome_email raised {call.error!r}.\n{signup[2].log()}"


def test_the_address_is_in_the_outbox(signup):
    _, email, api = signup
    outbox = api.request("GET", "/outbox", "GET /outbox").json()
    assert email in outbox, (
        f"send_welcome_email ran, but {email} is not in GET /outbox ({outbox[-3:]}...).\n"
        f"{api.log()}"
    )
