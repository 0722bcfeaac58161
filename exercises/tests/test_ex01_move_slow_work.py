"""Checks for exercise 01: POST /signup answers at once, and the welcome email still goes out."""

from __future__ import annotations

import time
import uuid

import ex01_move_slow_work as learner
import pytest

from app_snippets.settings import seconds

SLOW = seconds(2)  # how long sending the email takes


@pytest.fixture
def api(redis_server, serve):
    return serve(learner.app)


def new_email() -> str:
    return f"learner-{uuid.uuid4().hex[:8]}@example.com"


def test_signup_answers_without_waiting_for_the_email(api):
    api.request("POST", "/signup", "POST /signup", json={"email": new_email()})  # warm-up
    started = time.perf_counter()
    api.request("POST", "/signup", "POST /signup", json={"email": new_email()})
    elapsed = time.perf_counter() - started
    assert elapsed < SLOW / 2, (
        f"POST /signup took {elapsed:.2f} s to answer: it still waits for the slow email"
        f" ({SLOW:.2f} s) before it answers."
    )


def email_arrives(api, email: str) -> bool:
    """Poll GET /outbox until the email is there (True), the app raised, or time is up."""
    deadline = time.monotonic() + 2 * SLOW + 3
    while True:
        if email in api.request("GET", "/outbox", "GET /outbox").json():
            return True
        if api.raised() or time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def test_the_welcome_email_is_still_sent(api):
    email = new_email()
    api.request("POST", "/signup", "POST /signup", json={"email": email})
    assert email_arrives(api, email), (
        f"The welcome email to {email} never arrived in the outbox: POST /signup answers,"
        f" but the email is no longer sent (or sending it raised: see the log).\n{api.log()}"
    )
