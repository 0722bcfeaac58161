"""Checks for exercise 02: the thumbnail is still made, and /ping answers while it is."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import ex02_unblock_the_loop as learner
import httpx
import pytest

from app_snippets.settings import seconds

SLOW = seconds(2)  # how long make_thumbnail takes
PINGS = 5


@pytest.fixture
def api(serve):
    return serve(learner.app)


def wait_for_thumbnail(api, name: str) -> str | None:
    deadline = time.monotonic() + 2 * SLOW + 3
    while True:
        upload = api.request("GET", f"/uploads/{name}", "GET /uploads/{name}").json()
        if upload.get("thumbnail"):
            return upload["thumbnail"]
        if api.raised() or time.monotonic() > deadline:
            return None
        time.sleep(0.05)


def test_the_thumbnail_is_still_made(api):
    name = f"photo-{uuid.uuid4().hex[:6]}.jpg"
    api.request("POST", f"/uploads/{name}", "POST /uploads/{name}")
    assert wait_for_thumbnail(api, name), (
        f"No thumbnail was ever recorded for {name}: the background task no longer makes it"
        f" (or it raised: see the log).\n{api.log()}"
    )


def test_ping_answers_while_a_thumbnail_is_being_made(api):
    # Clients that are already connected, so that a ping measures only the server's wait.
    clients = [httpx.Client(base_url=api.url, timeout=30) for _ in range(PINGS)]
    with ThreadPoolExecutor(PINGS) as pool:
        list(pool.map(lambda client: client.get("/ping"), clients))
        name = f"photo-{uuid.uuid4().hex[:6]}.jpg"
        api.request("POST", f"/uploads/{name}", "POST /uploads/{name}")
        started = time.perf_counter()

        def ping(index: int) -> float:
            time.sleep(max(0.0, started + index * SLOW / PINGS - time.perf_counter()))
            sent = time.perf_counter()
            clients[index].get("/ping")
            return time.perf_counter() - sent

        waits = list(pool.map(ping, range(PINGS)))
    for client in clients:
        client.close()
    # The second-longest wait, not the longest: one ping slowed by a busy machine proves
    # nothing, while a blocked loop makes every ping sent in the first half wait past the middle.
    second_longest = sorted(waits)[-2]
    assert second_longest < SLOW / 2, (
        f"While a thumbnail was being made, GET /ping waited up to {max(waits):.2f} s, and over"
        f" {SLOW / 2:.2f} s more than once (the thumbnail takes {SLOW:.2f} s): the task still"
        " blocks the event loop, so the server answers no one until it is done."
    )
    assert wait_for_thumbnail(api, name), f"No thumbnail was ever recorded for {name}.\n{api.log()}"
