"""Chapter 04's app snippets (Dramatiq), each through real workers on a real Redis: the upload
app over HTTP, the chapter's actors in a thread worker, the time-limit and crash demos under
the `dramatiq` command. Timings hold at any DEMO_TIME_SCALE."""

from __future__ import annotations

import io
import itertools
import json
import os
import re
import shutil
import statistics
import tempfile
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dramatiq
import httpx
import pytest
import redis.exceptions
from dramatiq import group, pipeline
from dramatiq.results import ResultFailure, ResultMissing, ResultTimeout
from PIL import Image

import workbook as wb
from app_snippets.ch04_dramatiq import (
    dramatiq_crash,
    dramatiq_images,
    dramatiq_rate_limits,
    dramatiq_results,
    dramatiq_retries,
    dramatiq_schedule,
    dramatiq_serialization,
    dramatiq_time_limits,
    dramatiq_upload,
)
from app_snippets.ch04_dramatiq.dramatiq_broker import broker, results_backend
from app_snippets.settings import seconds
from workbook import wait_for


def png(image: Image.Image, kind: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=kind)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def worker():
    """The chapter's thread worker: every queue but time-limits (which needs the CLI)."""
    wb.start_redis()  # the session's Redis, again at the same address if a module stopped it
    queues = broker.get_declared_queues() - {dramatiq_time_limits.QUEUE}
    handle = wb.dramatiq_worker(
        "app_snippets.ch04_dramatiq.dramatiq_broker:broker", threads=8, queues=queues
    )
    yield handle
    handle.stop()


@pytest.fixture
def uploads(tmp_path, monkeypatch):
    folder = tmp_path / "srv" / "app" / "uploads"
    monkeypatch.setenv("UPLOAD_DIR", str(folder))
    return folder


@pytest.fixture
def store(redis_server):
    return redis_server.client()


def test_upload_stores_under_server_names_and_the_worker_makes_thumbnails(
    worker, uploads, tmp_path
):
    api = wb.serve(dramatiq_upload.app)
    picture = png(Image.new("RGB", (1200, 800), "teal"))
    reply = api.client.post("/images", files={"file": ("../../evil.png", picture, "image/png")})
    assert reply.status_code == 202
    body = reply.json()
    assert re.fullmatch(r"[0-9a-f]{32}\.png", body["image"]) and body["label"] == "../../evil.png"
    assert (uploads / body["image"]).read_bytes() == picture
    assert not list(tmp_path.rglob("evil*"))
    thumbnail = wait_for(
        lambda: (
            (r := api.client.get(f"/images/{body['image']}/thumbnail")).status_code == 200
            and r.content
        ),
        10,
    )
    assert Image.open(io.BytesIO(thumbnail)).size == (256, 171)
    assert not list(uploads.glob(".*")), "a partial file was left behind"  # written, renamed
    assert api.client.get(f"/images/{body['image']}").content == picture

    jpeg = png(Image.new("RGB", (300, 200), "teal"), "JPEG")
    reply = api.client.post("/images", files={"file": ("photo.png", jpeg, "image/png")})
    assert reply.status_code == 202 and reply.json()["image"].endswith(".jpg")
    jpeg_thumbnail = f"/images/{reply.json()['image']}/thumbnail"
    wait_for(lambda: api.client.get(jpeg_thumbnail).status_code == 200, 10)

    noise = png(Image.frombytes("RGB", (1000, 1000), os.urandom(3_000_000)))
    bomb = png(Image.new("1", (5000, 5000)))
    refused = {
        "text": (b"root:x:0:0:root:/root:/bin/bash\n", 415),
        "big": (noise, 413),
        "bomb": (bomb, 413),
        "cut": (picture[:300], 415),
    }
    for what, (data, status) in refused.items():
        reply = api.client.post("/images", files={"file": (f"{what}.png", data, "image/png")})
        assert reply.status_code == status, (what, reply.text)
    assert len(noise) > dramatiq_upload.MAX_BYTES and len(bomb) < 10_000
    assert api.client.get("/images/notes.txt").status_code == 422
    assert api.client.get(f"/images/{uuid.uuid4().hex}.png/thumbnail").status_code == 404
    stored = os.listdir(uploads)
    assert all(re.fullmatch(dramatiq_images.NAME_PATTERN, name) for name in stored), stored


def test_a_message_cannot_name_a_file_outside_the_upload_dir(worker, uploads):
    message = dramatiq_images.make_thumbnail.send("../../etc/passwd")
    with pytest.raises(ResultFailure, match="ValueError"):
        message.get_result(backend=results_backend, block=True, timeout=5_000)


def test_results_timeouts_failures_and_ttl(worker):
    slow = dramatiq_results.slow_square.send(12, 2.0)
    started = time.perf_counter()
    with pytest.raises(ResultTimeout):
        slow.get_result(backend=results_backend, block=True, timeout=500)
    assert time.perf_counter() - started < 0.5  # sub-second timeouts do not wait at all
    started = time.perf_counter()
    with pytest.raises(ResultTimeout):
        slow.get_result(backend=results_backend, block=True, timeout=1_500)
    assert 0.9 < time.perf_counter() - started < 1.9  # whole seconds
    assert slow.get_result(backend=results_backend, block=True, timeout=10_000) == 144
    key = results_backend.build_message_key(slow)
    assert 590_000 < results_backend.client.pttl(key) <= 600_000  # result_ttl: 10 minutes

    failed = dramatiq_results.parse_amount.send("twelve euros")
    with pytest.raises(ResultFailure, match="ValueError") as error:
        failed.get_result(backend=results_backend, block=True, timeout=10_000)
    assert error.value.orig_exc_type == "ValueError"

    ttl = int(max(seconds(2), 1.0) * 1000)  # at least 1 s: get_result must start within it
    short = dramatiq_results.slow_square.send_with_options(args=(7, 0), result_ttl=ttl)
    assert short.get_result(backend=results_backend, block=True, timeout=10_000) == 49
    time.sleep(ttl / 1000 + 0.2)
    with pytest.raises(ResultMissing):
        short.get_result(backend=results_backend)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["chapter 04", "quickstart (notebook 00)"])
def test_the_results_backends_wait_longer_than_redis_py_default_socket_timeout(worker, backend):
    from app_snippets.ch00_setup import quickstart_dramatiq

    dramatiq.set_broker(broker)  # importing the quickstart made its broker the global one
    chosen = results_backend if backend == "chapter 04" else quickstart_dramatiq.results
    never_sent = dramatiq_results.slow_square.message(1, 0)
    started = time.perf_counter()
    with pytest.raises(ResultTimeout):
        chosen.get_result(never_sent, block=True, timeout=6_000)
    assert time.perf_counter() - started > 5.5


@pytest.mark.slow
def test_a_backend_built_from_a_url_fails_after_five_seconds(redis_server):
    from dramatiq.results.backends.redis import RedisBackend

    documented = RedisBackend(url=redis_server.url)
    started = time.perf_counter()
    with pytest.raises(redis.exceptions.TimeoutError):
        documented.get_result(dramatiq_results.slow_square.message(1, 0), block=True, timeout=8_000)
    assert 4.5 < time.perf_counter() - started < 7


def test_default_retry_schedule_is_20_retries_over_about_a_month():
    schedules = [dramatiq_retries.default_schedule() for _ in range(500)]
    assert all(len(s) == 20 for s in schedules)
    assert all(15 <= s[0] <= 30 for s in schedules)
    assert all(b > a for s in schedules for a, b in itertools.pairwise(s))
    days = [s[-1] / 86400 for s in schedules]
    assert min(days) > 20 and max(days) < 50 and 28 < statistics.median(days) < 42


def test_retries_back_off_then_dead_letter(worker):
    run = uuid.uuid4().hex[:8]
    sent = time.time()
    message = dramatiq_retries.sync_inventory.send(run, [503])
    with pytest.raises(ResultFailure, match="503"):
        message.get_result(backend=results_backend, block=True, timeout=60_000)
    attempts = [t - sent for t in dramatiq_retries.attempt_times(run)]
    assert len(attempts) == 5
    minimum = dramatiq_retries.MIN_BACKOFF / 1000
    for n, (a, b) in enumerate(itertools.pairwise(attempts)):
        assert minimum * 2**n * 0.9 <= b - a <= minimum * 2 ** (n + 1) + 1, (n, attempts)
    dead = [m for _, m in dramatiq_retries.dead_letters() if m.args[0] == run]
    assert len(dead) == 1 and dead[0].options["retries"] == 4


@pytest.mark.parametrize(
    ("actor", "statuses", "attempts", "outcome"),
    [
        (dramatiq_retries.sync_prices, [503], 3, "dead letter"),
        (dramatiq_retries.sync_orders, [404], 1, "dead letter"),
        (dramatiq_retries.sync_orders, [503, 200], 2, "done"),
        (dramatiq_retries.sync_customers, [503, 502, 200], 3, "done"),
        (dramatiq_retries.sync_customers, [503, 404], 2, "dead letter"),
        (dramatiq_retries.sync_customers, [503], 4, "dead letter"),
    ],
    ids=["max_retries", "throws-404", "throws-503", "retry_when-ok", "retry_when-404", "bound"],
)
def test_bounded_retries(worker, actor, statuses, attempts, outcome):
    run = uuid.uuid4().hex[:8]
    actor.send(run, statuses)

    def ended() -> str | None:
        count = len(dramatiq_retries.attempt_times(run))
        if count and statuses[min(count, len(statuses)) - 1] < 400:
            return "done"
        if any(m.args[0] == run for _, m in dramatiq_retries.dead_letters()):
            return "dead letter"
        return None

    assert wait_for(ended, 30) == outcome
    time.sleep(seconds(0.5))  # no further attempt comes
    assert len(dramatiq_retries.attempt_times(run)) == attempts


def test_dead_letters_keep_the_previous_failure(worker, store):
    run = uuid.uuid4().hex[:8]
    dramatiq_retries.sync_customers.send(run, [503, 404])
    dead = wait_for(lambda: [m for _, m in dramatiq_retries.dead_letters() if m.args[0] == run], 30)
    assert "503" in dead[0].options["traceback"] and "404" not in dead[0].options["traceback"]
    assert store.zcard(f"dramatiq:{dramatiq_retries.QUEUE}.XQ") >= 1
    assert broker.dead_message_ttl == 7 * 86_400_000


def test_time_limit_stops_steps_but_not_a_blocking_call(store):
    cli = wb.dramatiq_worker(
        "app_snippets.ch04_dramatiq.dramatiq_time_limits:broker",
        process=True,
        queues=[dramatiq_time_limits.QUEUE],
    )
    run = uuid.uuid4().hex[:8]
    work = 5.0  # the limit is 1 s, checked once a second: steps stop after 1-2 s
    dramatiq_time_limits.crunch.send(f"{run}-steps", work)
    dramatiq_time_limits.blocking_call.send(f"{run}-blocking", work)

    def record(suffix: str) -> dict[str, str]:
        return store.hgetall(f"time-limits:{run}-{suffix}")

    wait_for(lambda: all("outcome" in record(s) for s in ("steps", "blocking")), 20)
    steps, blocking = record("steps"), record("blocking")
    assert steps["outcome"] == blocking["outcome"] == "TimeLimitExceeded"
    assert 1.0 <= float(steps["ended"]) - float(steps["started"]) < work - 1.5
    assert float(blocking["ended"]) - float(blocking["started"]) >= work - 0.1
    assert "Time limit exceeded" in cli.logs(200)
    cli.stop()


def test_concurrent_rate_limiter_allows_two_at_once(worker):
    run = uuid.uuid4().hex[:8]
    for _ in range(8):
        dramatiq_rate_limits.call_partner_api.send(run, seconds(1))
    wait_for(lambda: len(dramatiq_rate_limits.records(run)) == 8, 30)
    calls = dramatiq_rate_limits.records(run)
    events = sorted([(c["started"], 1) for c in calls] + [(c["ended"], -1) for c in calls])
    running, most = 0, 0
    for _, change in events:
        running += change
        most = max(most, running)
    assert most == 2


def test_window_rate_limiter_allows_three_per_second(worker):
    run = uuid.uuid4().hex[:8]
    for _ in range(9):
        dramatiq_rate_limits.send_sms.send(run)
    wait_for(lambda: len(dramatiq_rate_limits.records(run)) == 9, 30)
    texts = dramatiq_rate_limits.records(run)
    # The limiter counts a text in the second it read from the clock, between asked and sent
    # (a Redis round trip apart): count the texts whose second is certain.
    certain = Counter(int(t["asked"]) for t in texts if int(t["asked"]) == int(t["sent"]))
    assert max(certain.values()) <= 3, certain
    # 9 texts at 3 per window fill 3 windows at least: the span covers a whole second.
    assert max(t["sent"] for t in texts) - min(t["asked"] for t in texts) > 1


def test_pipeline_and_group_on_a_stored_image(worker, uploads):
    name = f"{uuid.uuid4().hex}.png"
    dramatiq_images.stored_path(name).write_bytes(png(Image.new("RGB", (1200, 800), "teal")))
    pipe = pipeline(
        [
            dramatiq_images.resize.message(name, 512),
            dramatiq_images.grayscale.message(),
            dramatiq_images.make_thumbnail.message_with_options(kwargs={"size": 128}),
        ],
        broker=broker,
    ).run()
    final = pipe.get_result(block=True, timeout=10_000)
    steps = list(pipe.get_results(block=True, timeout=10_000))
    assert steps[0].endswith("-w512.png") and steps[1].endswith("-w512-gray.png")
    assert final == steps[2] and (final["width"], final["height"]) == (128, 85)
    assert Image.open(dramatiq_images.stored_path(steps[1])).mode == "L"
    sizes = group(
        [dramatiq_images.make_thumbnail.message(name, s) for s in (32, 64, 128, 256)],
        broker=broker,
    )
    made = list(sizes.run().get_results(block=True, timeout=10_000))
    assert [m["width"] for m in made] == [32, 64, 128, 256]


def test_json_messages_and_the_pydantic_fix(worker):
    naive = dramatiq_serialization.schedule_reminder.send(7, "2030-01-01T09:00:00+00:00", ("a",))
    arrived = naive.get_result(backend=results_backend, block=True, timeout=10_000)
    assert arrived == {"remind_at": "str", "channels": "list"}
    with pytest.raises(TypeError, match="not JSON serializable"):
        dramatiq_serialization.schedule_reminder.send(7, datetime.now(timezone.utc), ("email",))

    reminder = dramatiq_serialization.Reminder(
        user_id=7, remind_at=datetime.now(timezone.utc) + timedelta(days=3), channels=("sms",)
    )
    message = dramatiq_serialization.send_reminder(reminder)
    assert json.loads(json.dumps(message.args)) == [reminder.model_dump(mode="json")]
    checked = message.get_result(backend=results_backend, block=True, timeout=10_000)
    assert checked["remind_at"] == "datetime" and checked["channels"] == "tuple"
    assert checked["due_in_days"] == "3.0"

    started = time.perf_counter()
    malformed = dramatiq_serialization.schedule_reminder_checked.send({"user_id": "x"})
    with pytest.raises(ResultFailure, match="ValidationError"):
        malformed.get_result(backend=results_backend, block=True, timeout=10_000)
    assert time.perf_counter() - started < 10  # no retry (the first would wait 15-30 s)


def test_a_killed_workers_messages_come_back_after_the_heartbeat_timeout(store):
    run = uuid.uuid4().hex[:8]
    cli = wb.dramatiq_worker(
        "app_snippets.ch04_dramatiq.dramatiq_crash:broker", process=True, threads=2
    )
    for report in range(20):
        dramatiq_crash.export_report.send(run, report)

    def done() -> int:
        return store.hlen(dramatiq_crash.key(run, "done"))

    def held_ids() -> list[str]:  # fetched by a worker, not yet acknowledged
        acks = store.keys(f"dramatiq:__acks__.*.{dramatiq_crash.QUEUE}")
        return [i for key in acks for i in store.smembers(key)]

    # 20 reports of at least 0.3 s on 2 threads: seconds of work left when 5 are done.
    wait_for(lambda: done() >= 5 and held_ids(), 15)
    cli.kill()
    killed_at = time.time()
    messages = f"dramatiq:{dramatiq_crash.QUEUE}.msgs"
    held = {json.loads(store.hget(messages, i))["args"][1] for i in held_ids()}
    assert held, "the worker held no message when it was killed"
    cli = wb.dramatiq_worker(
        "app_snippets.ch04_dramatiq.dramatiq_crash:broker", process=True, threads=8
    )
    wait_for(lambda: done() == 20, 30)
    starts = [line.split() for line in store.lrange(dramatiq_crash.key(run, "starts"), 0, -1)]
    restarted = {int(r): float(t) - killed_at for r, t in starts if float(t) > killed_at}
    heartbeat = dramatiq_crash.HEARTBEAT_TIMEOUT_MS / 1000
    assert held <= set(restarted)
    assert min(restarted[r] for r in held) >= heartbeat - 1
    cli.stop()


TUTORIAL = (
    Path(__file__).resolve().parents[2] / "app_snippets" / "ch04_dramatiq" / "article_dramatiq"
)


def test_the_tutorials_upload_writes_where_the_name_points_and_the_tuple_arrives_as_a_list(
    redis_server,
):
    worker = wb.run_command(
        "dramatiq app.dramatiq_worker --processes 1 --threads 2",
        cwd=TUTORIAL,
        ready="is ready for action",
    )
    api = wb.run_command(
        "uvicorn app.main:app --port {port}", cwd=TUTORIAL, ready="Application startup complete"
    )
    ours = Path(tempfile.mkdtemp(prefix="test-ch04-tutorial-", dir="/tmp"))
    try:
        name = f"../tmp/{ours.name}/not-an-image.png"  # climbs out of /tmp and back into ours
        reply = httpx.post(f"{api.url}/upload", files={"file": (name, b"text", "image/png")})
        assert reply.status_code == 200  # any bytes, any name
        assert (ours / "not-an-image.png").read_bytes() == b"text"
        wait_for(lambda: "Resize completed" in worker.logs(60), 30)
        assert f"Resizing /tmp/{name} to [200, 200]" in worker.logs(60)
    finally:
        shutil.rmtree(ours)
        worker.stop()
        api.stop()


def test_a_delayed_message_waits_and_a_periodic_actor_sends_its_next_run(worker):
    run = uuid.uuid4().hex[:8]
    sent_at = time.time()
    dramatiq_schedule.remind.send_with_options(args=(run,), delay=1000)
    dramatiq_schedule.tick.send(run, 300, 3)
    wait_for(
        lambda: (
            dramatiq_schedule.times(run, "reminded")
            and len(dramatiq_schedule.times(run, "ticks")) == 3
        ),
        20,
    )
    assert dramatiq_schedule.times(run, "reminded")[0] - sent_at >= 1.0
    ticks = dramatiq_schedule.times(run, "ticks")
    assert all(b - a >= 0.3 for a, b in itertools.pairwise(ticks))
    time.sleep(0.6)
    assert len(dramatiq_schedule.times(run, "ticks")) == 3  # `remaining` ended the chain
