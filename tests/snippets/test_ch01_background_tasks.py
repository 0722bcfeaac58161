"""Chapter 01's app snippets, each through a real served app over HTTP (TestClient only where
TestClient itself is the subject). Timings hold at any DEMO_TIME_SCALE."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from fastapi.testclient import TestClient

import workbook as wb
from app_snippets.ch01_background_tasks import bg_blocking, bg_dependencies, bg_failures, bg_timing
from app_snippets.settings import seconds, time_scale
from workbook import timed, wait_for

TASK = seconds(2)  # the tasks of bg_timing and bg_blocking (bg_dependencies: CARRIER_SECONDS)


def fresh_connections(api) -> httpx.Client:
    """A client that connects anew for each request: when a background task raises, uvicorn
    closes the connection the task ran on, and a kept-alive one could fail the next request."""
    return httpx.Client(base_url=api.url, limits=httpx.Limits(max_keepalive_connections=0))


def test_response_comes_before_the_task_finishes():
    api = wb.serve(bg_timing.app)
    sent = time.time()
    response = api.client.post("/invoices")
    answered = time.time()
    assert response.status_code == 202
    path = f"/invoices/{response.json()['id']}"
    finished = wait_for(lambda: api.client.get(path).json().get("task_finished_at"), 3 * TASK + 5)
    # Relative to the task, not a bound on latency: the first request on a fresh server (and a
    # busy machine) can be slow, but only waiting for the task makes it as slow as the task.
    assert answered < finished
    assert finished - sent >= TASK * 0.95


def ping_waits(api, kind: str, task: float, count: int = 5) -> list[float]:
    """Start task `kind`, then time `count` /ping calls spread over the task's duration."""
    clients = [httpx.Client(base_url=api.url) for _ in range(count)]
    with ThreadPoolExecutor(count) as pool:
        list(pool.map(lambda client: client.get("/ping"), clients))  # connect first
        assert api.client.post(f"/tasks/{kind}").status_code == 202
        started = time.perf_counter()

        def ping(index: int) -> float:
            time.sleep(max(0.0, started + index * task / count - time.perf_counter()))
            return timed(lambda: clients[index].get("/ping"))

        waits = list(pool.map(ping, range(count)))
    for client in clients:
        client.close()
    return waits


def test_only_the_blocking_async_task_stalls_the_server(monkeypatch):
    # The server is a thread of this process, and its tasks read the scale when they run: at a
    # quarter of the real pacing, "under half the task" leaves a ping 250 ms, not 100 ms.
    monkeypatch.setenv("DEMO_TIME_SCALE", str(max(time_scale(), 0.25)))
    task = seconds(2)
    api = wb.serve(bg_blocking.app)
    for kind in bg_blocking.TASKS:
        waits = ping_waits(api, kind, task)
        wait_for(lambda kind=kind: kind in api.client.get("/tasks/finished").json(), 3 * task + 5)
        # The second-longest wait: one ping slowed by a busy machine proves nothing, while a
        # blocked loop makes every ping sent in the task's first half wait past its middle.
        second_longest = sorted(waits)[-2]
        if kind == "blocking":
            assert second_longest > task / 2, f"{kind}: {waits}"
        else:
            assert second_longest < task / 2, f"{kind}: {waits}"
    assert api.client.post("/tasks/nope").status_code == 404


def test_a_failing_task_stops_the_rest_and_the_client_got_200():
    api = wb.serve(bg_failures.app)
    email = f"{uuid.uuid4().hex[:6]}@example.com"
    with fresh_connections(api) as client:
        assert client.post("/signup", params={"email": email}).status_code == 200
        wait_for(lambda: "CRM API answered 503" in api.logs(), 5)
        assert client.get(f"/signup/{email}/tasks").json() == ["send_welcome_email"]


def test_sigkill_loses_running_tasks_and_sigterm_lets_them_finish(redis_server):
    from app_snippets.ch01_background_tasks import bg_crash

    store = redis_server.client()
    # Each export lasts EXPORT_SECONDS (never under 1 s): long enough for the three POSTs and a
    # poll to a just-(re)started server to see all three running before the first one ends.
    api = wb.serve("app_snippets.ch01_background_tasks.bg_crash:app", process=True)
    for stop, expected in ((api.kill, "running"), (api.terminate, "done")):
        if not api.alive():
            api.restart()
        store.delete(bg_crash.EXPORTS_KEY)
        for _ in range(3):
            assert api.client.post("/exports").status_code == 202
        wait_for(
            lambda: list(store.hgetall(bg_crash.EXPORTS_KEY).values()) == ["running"] * 3,
            5 + 3 * bg_crash.EXPORT_SECONDS,
        )
        stop()
        assert not api.alive()
        time.sleep(bg_crash.EXPORT_SECONDS + 0.2)  # longer than an export: nothing more changes
        assert list(store.hgetall(bg_crash.EXPORTS_KEY).values()) == [expected] * 3, stop
    assert "Waiting for background tasks to complete" in api.logs()
    api.stop()


def test_testclient_runs_tasks_before_returning_and_reraises_their_errors():
    with TestClient(bg_timing.app) as client:
        assert timed(lambda: client.post("/invoices")) >= TASK * 0.95
    with TestClient(bg_failures.app) as client, pytest.raises(ConnectionError, match="503"):
        client.post("/signup", params={"email": "test@example.com"})


def test_yield_dependency_sessions_and_background_tasks():
    api = wb.serve(bg_dependencies.app)
    client = fresh_connections(api)

    def order(path: str) -> tuple[str, int]:
        order_id = client.post(path).json()["order"]
        return order_id, client.get("/sessions/open").json()

    def rows(order_id: str) -> list[str]:
        return client.get(f"/orders/{order_id}/rows").json()

    # Request scope (the default): the task can use the session, which stays open meanwhile
    # (for CARRIER_SECONDS, never under 0.5 s: time enough for the GET on a fresh connection).
    order_id, open_during_task = order("/orders/request-scope")
    assert open_during_task == 1
    wait_for(lambda: len(rows(order_id)) == 2, 3 * TASK + 5)
    wait_for(lambda: client.get("/sessions/open").json() == 0, 5)

    # Function scope: closed before the task runs, which fails.
    order_id, open_during_task = order("/orders/function-scope")
    assert open_during_task == 0
    wait_for(lambda: "SessionClosedError" in api.logs(), 3 * TASK + 5)
    assert rows(order_id) == [f"order {order_id}: placed"]

    # The fix: the task opens its own session, only for its write.
    order_id, open_during_task = order("/orders")
    assert open_during_task == 0
    wait_for(lambda: len(rows(order_id)) == 2, 3 * TASK + 5)
    assert client.get("/sessions/open").json() == 0
    client.close()
