"""Chapter 02's app snippets (Celery), each through a real worker, and a served app over HTTP
where the snippet has one. Timings hold at any DEMO_TIME_SCALE."""

from __future__ import annotations

import datetime as dt
import itertools
import sqlite3
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
from kombu.exceptions import EncodeError
from redis import Redis

import workbook as wb
from app_snippets.ch02_celery import (
    celery_beat,
    celery_canvas,
    celery_crash,
    celery_fixed,
    celery_limits,
    celery_retries,
    celery_serialization,
    celery_status,
)
from app_snippets.settings import seconds
from workbook import wait_for

TUTORIAL = Path(__file__).resolve().parents[2] / "app_snippets" / "ch02_celery" / "article_celery"


@pytest.fixture(autouse=True)
def _redis(redis_server):
    """Every test here needs the session's Redis (another module may have stopped it)."""
    return redis_server


@pytest.fixture
def thread_worker():
    """`thread_worker(app)` starts a worker in a thread, stopped after the test (one at a
    time: a second thread worker in the same process never runs countdown tasks)."""
    started = []

    def start(app):
        started.append(wb.celery_worker(app))
        return started[-1]

    yield start
    for worker in started:
        worker.stop()


def test_the_tutorials_app_run_as_it_says_answers_at_once_and_refuses_a_json_body():
    worker = wb.run_command(
        "celery -A app.main.celery_app worker --loglevel=info", cwd=TUTORIAL, ready=" ready."
    )
    api = wb.run_command(
        "uvicorn app.main:app --port {port}", cwd=TUTORIAL, ready="Application startup complete"
    )
    user = {"username": "ada", "email": "ada@example.com"}
    with httpx.Client(base_url=api.url, timeout=30) as client:
        registered = client.post("/register", params=user)
        assert registered.status_code == 200 and "msg" in registered.json()
        assert "succeeded" not in worker.logs(400)  # answered before the 5 s task ended
        wait_for(lambda: "succeeded in" in worker.logs(400), 30)
        assert client.post("/register", json=user).status_code == 422
    log = worker.logs(400)
    assert "Sent welcome email to ada@example.com (user_id=123)" in log
    assert "{'status': 'sent', 'user_id': 123}" in log
    worker.stop()
    api.stop()


def test_the_tutorials_app_stops_for_every_result_store_retry_while_redis_is_down():
    api = wb.run_command(
        "python short_retry_server.py {port} 3", cwd=TUTORIAL, ready="Application startup complete"
    )
    redis = wb.start_redis()
    redis.stop()
    try:
        params = {"username": "ada", "email": "ada@example.com"}
        status, took, pinged = post_and_ping(
            api, "POST", "/register", "/openapi.json", params=params
        )
    finally:
        wb.start_redis()
        api.stop()
    assert status == 500 and pinged > took / 2  # the quick GET waited for the failing .delay()
    assert took > 1  # 3 retries of the result store, about a second apart
    assert "Retry limit exceeded" in api.logs(80)


def test_a_task_without_retry_options_runs_once(thread_worker, redis_server):
    thread_worker(celery_retries.celery_app)
    order = f"once-{uuid.uuid4().hex[:6]}"
    result = celery_retries.charge_once.delay(order)
    wait_for(result.ready, 10)
    time.sleep(0.5)  # a retry, had there been one, would be on its way
    assert result.state == "FAILURE" and isinstance(result.result, ConnectionError)
    assert redis_server.client().llen(f"attempts:{order}") == 1


def test_a_real_worker_refuses_get_inside_a_task():
    worker = wb.celery_worker("app_snippets.ch02_celery.celery_canvas:celery_app", process=True)
    waiting = celery_canvas.convert_and_wait.delay("uploads/a.mov")
    wait_for(waiting.ready, 30)
    assert waiting.state == "FAILURE" and "Never call result.get() within a task" in str(
        waiting.result
    )
    worker.stop()


def test_fixed_app_takes_a_json_body_on_both_routes(thread_worker):
    thread_worker(celery_fixed.celery_app)
    api = wb.serve(celery_fixed.app)
    body = {"to": "ada@example.com", "subject": "Hi", "body": "Hello"}
    for path in ("/emails", "/emails/async"):
        response = api.client.post(path, json=body)
        assert response.status_code == 202, response.text
        task_id = response.json()["task_id"]
        wait_for(
            lambda task_id=task_id: (
                api.client.get(f"/tasks/{task_id}").json()["status"] == "SUCCESS"
            ),
            5 + seconds(1) * 3,
        )
    assert api.client.post("/emails", params=body).status_code == 422


def post_and_ping(
    api, method: str, path: str, ping: str = "/ping", **request
) -> tuple[int, float, float]:
    """(status, seconds the request took, the longest wait of the GET `ping`s sent one after
    another while it was in flight)."""
    outcome: dict[str, float] = {}
    with (
        httpx.Client(base_url=api.url, timeout=60) as slow_client,
        httpx.Client(base_url=api.url, timeout=60) as client,
    ):
        slow_client.get(ping)  # both connected first: only the waits are timed
        client.get(ping)

        def slow() -> None:
            started = time.perf_counter()
            outcome["status"] = slow_client.request(method, path, **request).status_code
            outcome["took"] = time.perf_counter() - started

        thread = threading.Thread(target=slow)
        thread.start()
        waits: list[float] = []
        while thread.is_alive() or not waits:
            started = time.perf_counter()
            client.get(ping)
            waits.append(time.perf_counter() - started)
            time.sleep(0.005)
        thread.join()
    return int(outcome["status"]), outcome["took"], max(waits)


def test_with_redis_down_the_fix_answers_503_without_blocking_the_loop():
    fixed_api = wb.serve(celery_fixed.app)
    body = {"to": "ada@example.com", "subject": "Hi", "body": "Hello"}
    assert fixed_api.client.post("/emails", json=body).status_code == 202  # connected
    redis = wb.start_redis()
    redis.stop()
    try:
        for path in ("/emails", "/emails/async"):
            status, took, pinged = post_and_ping(fixed_api, "POST", path, json=body)
            assert status == 503 and pinged < took / 2
            assert took < 15  # bounded by the retry policy, not 19 s of retries
    finally:
        wb.start_redis()
    assert fixed_api.client.post("/emails", json=body).status_code == 202


def test_status_endpoint_tells_unknown_queued_done_and_failed_apart(thread_worker):
    api = wb.serve(celery_status.app)
    assert api.client.get(f"/tasks/{uuid.uuid4()}").status_code == 404
    ok = api.client.post("/emails", json={"to": "ada@example.com", "subject": "Hi"}).json()
    bad = api.client.post("/emails", json={"to": "x@invalid.example", "subject": "Hi"}).json()
    assert api.client.get(f"/tasks/{ok['task_id']}").json()["state"] == "PENDING"
    thread_worker(celery_status.celery_app)

    def final(task_id: str) -> dict:
        def finished() -> dict | None:
            response = api.client.get(f"/tasks/{task_id}")
            assert response.status_code == 200, response.text  # 404: the id expired already
            status = response.json()
            return status if status["state"] in ("SUCCESS", "FAILURE") else None

        return wait_for(finished, 5 + seconds(0.5) * 4)

    done, failed = final(ok["task_id"]), final(bad["task_id"])
    assert done["result"] == "sent 'Hi' to ada@example.com"
    assert done["task"] == "app_snippets.ch02_celery.celery_status.send_email"  # result_extended
    assert failed["state"] == "FAILURE" and "does not exist" in failed["error"]


def test_progress_is_visible_while_the_report_runs(thread_worker):
    thread_worker(celery_status.celery_app)
    api = wb.serve(celery_status.app)
    task_id = api.client.post("/reports", json={"pages": 20}).json()["task_id"]
    seen = []
    deadline = time.monotonic() + 5 + seconds(0.2) * 20 * 3
    while time.monotonic() < deadline:
        status = api.client.get(f"/tasks/{task_id}").json()
        seen.append(status)
        if status["state"] == "SUCCESS":
            break
        time.sleep(0.005)
    progress = [s["progress"]["done"] for s in seen if s["state"] == "PROGRESS"]
    assert progress and progress == sorted(progress)
    assert seen[-1] == {**seen[-1], "state": "SUCCESS", "result": {"pages": 20}}


def test_results_expire_and_then_read_pending(thread_worker, redis_server):
    thread_worker(celery_status.celery_app)
    api = wb.serve(celery_status.app)
    task_id = api.client.post("/emails", json={"to": "a@example.com", "subject": "Hi"}).json()[
        "task_id"
    ]
    wait_for(lambda: celery_status.celery_app.AsyncResult(task_id).state == "SUCCESS", 5)
    key = f"celery-task-meta-{task_id}"
    assert 0 < redis_server.client().ttl(key) <= celery_status.RESULT_EXPIRES
    wait_for(lambda: not redis_server.client().exists(key), celery_status.RESULT_EXPIRES + 5)
    assert api.client.get(f"/tasks/{task_id}").status_code == 404
    assert celery_status.celery_app.AsyncResult(task_id).state == "PENDING"


def test_bounded_retries_back_off_and_fail_and_the_unbounded_one_is_revoked(
    thread_worker, redis_server
):
    thread_worker(celery_retries.celery_app)
    store = redis_server.client()
    run = uuid.uuid4().hex[:6]
    results = {name: getattr(celery_retries, name).delay(f"{name}-{run}") for name in
               ("charge", "charge_with_jitter", "charge_forever")}  # fmt: skip
    # 1 + 2 + 4 s of backoff (whole seconds, not scaled); a busy machine, with charge_forever
    # retrying every 0.05 s beside them, took over 20 s once
    wait_for(lambda: results["charge"].ready() and results["charge_with_jitter"].ready(), 60)
    results["charge_forever"].revoke()
    revoked_at = time.time()
    # The attempts stop; the state usually becomes REVOKED, but Celery publishes a retry
    # before it stores RETRY, so a revoke in between ends in RETRY (tools/revoke_race.py).
    forever = f"attempts:charge_forever-{run}"
    wait_for(lambda: time.time() - float(store.lindex(forever, -1)) > 1.0, 1.0)
    attempts = {
        name: [float(t) for t in store.lrange(f"attempts:{name}-{run}", 0, -1)] for name in results
    }
    assert results["charge"].state == results["charge_with_jitter"].state == "FAILURE"
    assert isinstance(results["charge"].result, ConnectionError)
    assert len(attempts["charge"]) == len(attempts["charge_with_jitter"]) == 4
    gaps = [b - a for a, b in itertools.pairwise(attempts["charge"])]
    assert gaps[0] >= 0.9 and gaps[1] > gaps[0] and gaps[2] > gaps[1]  # 1, 2, 4 s
    assert len(attempts["charge_forever"]) > 4
    assert max(attempts["charge_forever"]) < revoked_at + 1.5  # none once the revoke arrived
    assert results["charge_forever"].state in ("REVOKED", "RETRY")
    results.clear()


def in_flight(db: Redis, started: list[bytes] | None = None) -> set[bytes]:
    """The items that started (of `started`, or so far) and have not completed."""
    if started is None:
        started = db.lrange("started", 0, -1)
    return set(started) - db.smembers("done")


def crash(app_name: str, tasks: int = 10) -> tuple[int, int]:
    """Kill the worker while the 4th task (or a later one) runs, start a new one:
    (completed, runs). A kill that falls between two tasks cuts none short: then again."""
    app = getattr(celery_crash, app_name)
    db = Redis.from_url(app.conf.broker_url)
    for _ in range(5):
        db.flushdb()
        worker = wb.celery_worker(
            f"app_snippets.ch02_celery.celery_crash:{app_name}", process=True, concurrency=1
        )
        for item in range(tasks):
            app.send_task("process_item", args=(item,))
        wait_for(lambda: db.llen("started") >= 4 and in_flight(db), 10)
        started = db.lrange("started", 0, -1)
        worker.kill()
        if in_flight(db, started):  # the dead worker records nothing more
            break
    else:
        pytest.fail("in 5 attempts, the kill never fell while a task ran")
    worker.restart()
    deadline = time.monotonic() + celery_crash.SHORT + 5 + tasks * seconds(0.5)
    last, last_change = -1, time.monotonic()
    while db.scard("done") < tasks and time.monotonic() < deadline:
        if db.llen("started") != last or db.llen(app.conf.task_default_queue):
            last, last_change = db.llen("started"), time.monotonic()
        elif not db.hlen("unacked") and time.monotonic() - last_change > seconds(0.5) + 0.5:
            break  # nothing queued, nothing unacknowledged, nothing running: the rest is lost
        time.sleep(0.02)
    time.sleep(seconds(0.5) + 0.2)  # a duplicate run, if any, shows now
    worker.stop()
    return db.scard("done"), db.llen("started")


def test_a_killed_worker_loses_its_running_task_unless_acks_late():
    done, runs = crash("default_short_app")
    assert done == 9
    done, runs = crash("safe_short_app")
    assert done == 10 and runs > 10  # the killed task ran again


def test_json_keeps_lists_and_dates_and_refuses_sets_objects_connections(thread_worker):
    thread_worker(celery_serialization.celery_app)
    echo = celery_serialization.echo
    assert echo.delay((1, 2)).get(timeout=10) == [1, 2]
    when = dt.datetime(2030, 1, 2, 3, 4, 5)
    assert echo.delay(when).get(timeout=10) == when
    for value in (
        {1, 2},
        celery_serialization.User(1, "a@example.com"),
        sqlite3.connect(":memory:"),
    ):
        with pytest.raises(EncodeError):
            echo.delay(value)
    with pytest.raises(EncodeError):
        celery_serialization.send_welcome.delay(celery_serialization.User(1, "a@example.com"))
    welcome = celery_serialization.send_welcome_by_id.delay(42).get(timeout=10)
    assert welcome == "welcome sent to ada@example.com"


def test_time_limits_rate_limits_and_revoke_on_a_prefork_worker(redis_server):
    worker = wb.celery_worker(
        "app_snippets.ch02_celery.celery_limits:celery_app",
        process=True,
        concurrency=2,
        hostname="one@%h",
    )
    quick = celery_limits.render_video.delay(1, 0)  # well within the soft limit
    soft = celery_limits.render_video.delay(2, celery_limits.LONG_JOB)
    stubborn = celery_limits.render_video_stubborn.delay(3, celery_limits.LONG_JOB)
    assert quick.get(timeout=20) == "video 1: rendered"
    assert soft.get(timeout=20) == "video 2: stopped cleanly after the soft limit"
    assert stubborn.get(timeout=20, propagate=False) is not None
    assert type(stubborn.result).__name__ == "TimeLimitExceeded"

    store = redis_server.client()

    def calls(count: int = 20) -> dict[str, list[float]]:
        """Each worker's calls: when they ran, in order."""
        store.delete("limits:partner_calls")
        for result in [celery_limits.call_partner.delay(i) for i in range(count)]:
            result.get(timeout=30)
        by_worker: dict[str, list[float]] = {}
        for entry in store.lrange("limits:partner_calls", 0, -1):
            hostname, moment = entry.rsplit(" ", 1)
            by_worker.setdefault(hostname.split("@")[0], []).append(float(moment))
        return {name: sorted(times) for name, times in by_worker.items()}

    def per_second(times: list[float]) -> float:
        times = sorted(times)
        return (len(times) - 1) / (times[-1] - times[0])

    limit = celery_limits.PARTNER_RATE
    one = calls()
    # Another target string than the first worker's: the workbook keeps one worker per target.
    second = wb.celery_worker(
        "app_snippets.ch02_celery.celery_limits", process=True, concurrency=2, hostname="two@%h"
    )
    two = calls()
    second.stop()
    assert list(one) == ["one"] and per_second(one["one"]) < 1.3 * limit
    assert sorted(two) == ["one", "two"], two  # both workers took calls
    for name, times in two.items():  # each keeps to the limit on its own
        assert len(times) < 3 or per_second(times) < 1.3 * limit, (name, times)
    together = per_second([t for times in two.values() for t in times])
    assert together > 1.3 * limit  # per worker: two workers, more calls a second

    countdown = max(seconds(2), 2.0)  # time enough for the revoke to arrive first
    waiting = celery_limits.export_report.apply_async((1,), countdown=countdown)
    running = celery_limits.export_report.delay(2)
    wait_for(lambda: running.state == "STARTED", 10)
    waiting.revoke()
    running.revoke(terminate=True)
    wait_for(lambda: waiting.state == running.state == "REVOKED", 10 + countdown)
    worker.stop()


def test_canvas_chain_group_and_chord(thread_worker):
    thread_worker(celery_canvas.celery_app)
    chain_result = celery_canvas.one_video("a.mov", "ada@example.com").delay().get(timeout=20)
    assert chain_result == "told ada@example.com: uploads/a.mp4 ready"
    group_result = celery_canvas.all_formats("uploads/a.mov").delay().get(timeout=20)
    assert group_result == ["uploads/a.mp4", "uploads/a.webm", "uploads/a.gif"]
    chord_result = celery_canvas.all_formats_then_notify("uploads/a.mov", "b@example.com")
    assert chord_result.delay().get(timeout=20) == (
        "told b@example.com: uploads/a.mp4, uploads/a.webm, uploads/a.gif ready"
    )


def test_beat_sends_the_cleanup_on_schedule(thread_worker, redis_server, tmp_path):
    from celery.beat import EmbeddedService

    thread_worker(celery_beat.celery_app)
    store = redis_server.client()
    store.delete("cleanup_runs", "uploads")
    store.zadd("uploads", {"old.mov": time.time() - 1, "fresh.mov": time.time() + 3600})
    beat = EmbeddedService(
        celery_beat.celery_app, thread=True, schedule_filename=str(tmp_path / "schedule"),
        max_interval=seconds(0.5),
    )  # fmt: skip
    beat.start()
    try:
        wait_for(lambda: store.llen("cleanup_runs") >= 3, 10 + seconds(1) * 6)
    finally:
        beat.stop()
        beat.join(5)
    assert not beat.is_alive()
    assert store.zrange("uploads", 0, -1) == ["fresh.mov"]
    assert list(tmp_path.iterdir())  # beat's state file went where we said
