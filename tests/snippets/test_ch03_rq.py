"""Chapter 03's app snippets (RQ), each through a real Redis and a real RQ worker, and the
FastAPI app through a real server over HTTP. Timings hold at any DEMO_TIME_SCALE."""

from __future__ import annotations

import time
import zlib
from pathlib import Path

import httpx
import pytest
from redis import Redis
from rq import Queue, Retry
from rq.job import Job
from rq.serializers import JSONSerializer

import workbook as wb
from app_snippets.ch03_rq import rq_pickle_payload, rq_tasks
from app_snippets.settings import seconds
from workbook import wait_for


@pytest.fixture
def connection(redis_server) -> Redis:
    return Redis.from_url(redis_server.url)


def settled(job: Job) -> bool:
    return job.get_status(refresh=True) in ("finished", "failed")


CHAPTER = Path(__file__).resolve().parents[2] / "app_snippets" / "ch03_rq"


def serve_tutorial(layout: str, worker_command: str) -> tuple:
    worker = wb.run_command(worker_command, cwd=CHAPTER / layout, ready="Listening on")
    api = wb.run_command(
        "uvicorn app.main:app --port {port}",
        cwd=CHAPTER / layout,
        ready="Application startup complete",
    )
    return worker, api


def test_the_tutorials_worker_and_app_do_not_start(redis_server):
    worker = wb.run_command("python app/rq_worker.py", cwd=CHAPTER / "article_rq")
    api = wb.run_command("uvicorn app.main:app --port {port}", cwd=CHAPTER / "article_rq")
    assert worker.returncode == 1 and "cannot import name 'Connection' from 'rq'" in worker.logs()
    assert api.returncode == 1 and "No module named 'rq_worker'" in api.logs()


def test_step_1_answers_500_after_enqueueing_and_the_script_worker_cannot_import_it(connection):
    worker, api = serve_tutorial("article_rq_step1", "python app/rq_worker.py")
    try:
        queue = Queue("default", connection=connection)
        before = set(queue.failed_job_registry.get_job_ids())
        reply = httpx.post(f"{api.url}/report/7", timeout=30)
        assert reply.status_code == 500
        wait_for(lambda: "has no attribute 'get_id'" in api.logs(200), 10)
        failed = wait_for(lambda: set(queue.failed_job_registry.get_job_ids()) - before, 15)
        job = Job.fetch(failed.pop(), connection=connection)
        assert job.args == (7,)
        assert "Invalid attribute name: app.rq_worker.generate_report" in (
            job.latest_result().exc_string
        )
    finally:
        worker.stop()
        api.stop()


def test_the_fixed_tutorial_answers_with_the_job_id_and_makes_the_report(connection):
    worker, api = serve_tutorial("article_rq_fixed", "python -m app.rq_worker")
    try:
        reply = httpx.post(f"{api.url}/report/42", timeout=30)
        assert reply.status_code == 200 and reply.json()["status"] == "queued"
        job = Job.fetch(reply.json()["job_id"], connection=connection, serializer=JSONSerializer)
        assert job.get_status() in ("queued", "started")  # answered before the 8 s job ended
        wait_for(lambda: settled(job), 30)
        assert job.get_status() == "finished" and job.return_value() == "/tmp/report_42.pdf"
    finally:
        worker.stop()
        api.stop()


def test_a_tuple_arrives_as_a_list_under_json(connection):
    queue = Queue("ch03-types", connection=connection, serializer=JSONSerializer)
    worker = wb.rq_worker(["ch03-types"], serializer="json")
    job = queue.enqueue(rq_tasks.type_names, (1, 2), {"a": 1})
    wait_for(lambda: settled(job), 10)
    assert job.return_value() == ["list", "dict"]
    worker.stop()


def test_the_fixed_app_reports_every_state_of_a_job(redis_server):
    from app_snippets.ch03_rq import rq_emails

    api = wb.serve(rq_emails.app)
    post = lambda to: api.client.post("/emails", json={"to": to, "subject": "Hi"})  # noqa: E731
    good, bad = post("ada@example.com"), post("nobody")
    assert good.status_code == 202 and good.json()["status"] == "queued"
    record = lambda r: api.client.get(f"/jobs/{r.json()['job_id']}").json()  # noqa: E731
    assert record(good)["status"] == "queued"  # no worker yet
    worker = wb.rq_worker([rq_emails.QUEUE], process=True, serializer="json")
    wait_for(lambda: record(bad)["status"] in ("finished", "failed"), 3 * seconds(1) + 10)
    assert record(good) == {
        "job_id": good.json()["job_id"],
        "status": "finished",
        "result": "sent 'Hi' to ada@example.com",
    }
    assert record(bad)["status"] == "failed"
    assert record(bad)["error"].startswith("ValueError: cannot send to 'nobody'")
    assert api.client.get("/jobs/nope").status_code == 404
    worker.stop()


def test_a_job_path_the_worker_cannot_import_fails_with_invalid_attribute_name(connection):
    queue = Queue("ch03-import-path", connection=connection, serializer=JSONSerializer)
    worker = wb.rq_worker(["ch03-import-path"], serializer="json")
    lost = queue.enqueue("app.tasks.send_email", "ada@example.com", "Hi")
    wait_for(lambda: settled(lost), 10)
    assert "Invalid attribute name: app.tasks.send_email" in lost.latest_result().exc_string
    worker.stop()


def test_a_job_from_main_is_refused(connection):
    def in_main() -> None: ...

    in_main.__module__ = "__main__"
    with pytest.raises(ValueError, match="__main__ module cannot be processed"):
        Queue("ch03-main", connection=connection).enqueue(in_main)


def test_the_crafted_job_runs_code_in_a_pickle_worker_only(connection, tmp_path):
    for serializer, queue_name in ((None, "ch03-pickle"), ("json", "ch03-json")):
        worker = wb.rq_worker([queue_name], process=True, serializer=serializer)
        marker = tmp_path / queue_name
        job_id = rq_pickle_payload.write_crafted_job(connection, queue_name, marker)
        job = Job.fetch(job_id, connection=connection, serializer=JSONSerializer)
        wait_for(lambda job=job: settled(job), 10)
        if serializer is None:
            assert marker.exists() and job.get_status() == "finished"
        else:
            assert not marker.exists() and job.get_status() == "failed"
            assert "DeserializationError" in job.latest_result().exc_string
        worker.stop()


def test_retry_counts_and_intervals_need_the_scheduler(redis_server, connection):
    store = redis_server.client()
    queue = Queue("ch03-retries", connection=connection, serializer=JSONSerializer)
    worker = wb.rq_worker(["ch03-retries"], serializer="json")
    for name in ("once", "four", "spaced"):
        store.delete(rq_tasks.attempts_key(f"ch03-{name}"))
    once = queue.enqueue(rq_tasks.flaky, "ch03-once", 100)
    four = queue.enqueue(rq_tasks.flaky, "ch03-four", 100, retry=Retry(max=3))
    spaced = queue.enqueue(rq_tasks.flaky, "ch03-spaced", 1, retry=Retry(max=1, interval=1))
    wait_for(lambda: settled(once) and settled(four), 10)
    assert store.llen(rq_tasks.attempts_key("ch03-once")) == 1
    assert store.llen(rq_tasks.attempts_key("ch03-four")) == 4
    wait_for(lambda: spaced.get_status(refresh=True) == "scheduled", 10)  # its 1 s interval
    time.sleep(1.5)
    assert spaced.get_status(refresh=True) == "scheduled"  # no scheduler: it waits forever
    worker = wb.rq_worker(["ch03-retries"], serializer="json", with_scheduler=True)
    wait_for(lambda: settled(spaced), 10)
    assert spaced.get_status() == "finished"
    worker.stop()


def test_the_pipeline_runs_in_order_and_a_failure_defers_the_rest(connection):
    queue = Queue("ch03-pipeline", connection=connection, serializer=JSONSerializer)
    worker = wb.rq_worker(["ch03-pipeline"], serializer="json")
    chains = {}
    for day in ("2024-06-01", "never"):
        fetch = queue.enqueue(rq_tasks.fetch_orders, day)
        total = queue.enqueue(rq_tasks.total_orders, depends_on=fetch)
        chains[day] = (fetch, total, queue.enqueue(rq_tasks.publish_total, depends_on=total))
    wait_for(lambda: settled(chains["2024-06-01"][2]) and settled(chains["never"][0]), 10)
    assert chains["2024-06-01"][2].return_value() == "published: 62.49 EUR"
    time.sleep(0.2)
    statuses = [job.get_status(refresh=True) for job in chains["never"]]
    assert statuses == ["failed", "deferred", "deferred"]
    worker.stop()


def test_cron_enqueues_every_second_with_pickle(connection):
    from app_snippets.ch03_rq import rq_cron_config

    queue = Queue(rq_cron_config.QUEUE, connection=connection)
    queue.empty()
    cron = wb.rq_cron("app_snippets.ch03_rq.rq_cron_config", serializer="json")
    wait_for(lambda: queue.count >= 2, 10)
    data = zlib.decompress(connection.hget(f"rq:job:{queue.get_job_ids()[0]}", "data"))
    assert data[:1] == b"\x80"  # pickle, whatever --serializer says (RQ 3.0)
    worker = wb.rq_worker([rq_cron_config.QUEUE])
    wait_for(lambda: queue.finished_job_registry.count >= 1, 10)
    cron.stop()
    worker.stop()


def test_rq_dashboard_lists_queues_and_workers(connection):
    pytest.importorskip("rq_dashboard")
    from app_snippets.ch03_rq import rq_dashboard_app

    Queue("ch03-dashboard", connection=connection, serializer=JSONSerializer).enqueue(
        rq_tasks.sleep_for, 0
    )
    worker = wb.rq_worker(["ch03-dashboard-idle"], serializer="json")
    dashboard = wb.serve(rq_dashboard_app.create_dashboard("ada", "s3cret"), name="rq-dashboard")
    login = httpx.BasicAuth("ada", "s3cret")
    queues = dashboard.client.get("/rq/0/data/queues.json", auth=login).json()["queues"]
    assert "ch03-dashboard" in {queue["name"] for queue in queues}
    workers = dashboard.client.get("/rq/0/data/workers.json", auth=login).json()["workers"]
    assert worker.name in {w["name"] for w in workers}
    assert dashboard.client.get("/rq/", auth=login).status_code == 200
    assert dashboard.client.get("/rq/").status_code == 401, "no login, no dashboard"
    wrong = httpx.BasicAuth("ada", "guess")
    assert dashboard.client.get("/rq/", auth=wrong).status_code == 401
    dashboard.stop()
    worker.stop()


def test_rq_dashboard_requeues_with_a_login_and_refuses_other_sites(connection):
    pytest.importorskip("rq_dashboard")
    from app_snippets.ch03_rq import rq_dashboard_app

    queue = Queue("ch03-dashboard-requeue", connection=connection, serializer=JSONSerializer)
    connection.delete(rq_tasks.attempts_key("dashboard-requeue"))
    job = queue.enqueue(rq_tasks.flaky, "dashboard-requeue", 1)
    worker = wb.rq_worker([queue.name], serializer="json")
    wait_for(lambda: settled(job), 30)
    worker.stop()  # so that the requeued job stays queued, for the assertion below
    assert job.get_status(refresh=True) == "failed"
    dashboard = wb.serve(rq_dashboard_app.create_dashboard("ada", "s3cret"), name="rq-dashboard")
    login = httpx.BasicAuth("ada", "s3cret")
    evil = {"Origin": "http://evil.example", "Content-Type": "text/plain"}
    refused = dashboard.client.post(f"/rq/job/{job.id}/requeue", auth=login, headers=evil)
    assert refused.status_code == 403, "a page of another site must not requeue jobs"
    background = {"Sec-Fetch-Site": "cross-site"}
    assert dashboard.client.get(f"/rq/requeue/{queue.name}", auth=login, headers=background
                                ).status_code == 403  # fmt: skip
    assert job.get_status(refresh=True) == "failed", "the refused requests changed nothing"
    requeued = dashboard.client.post(f"/rq/job/{job.id}/requeue", auth=login)
    assert requeued.status_code == 200, requeued.text
    assert job.get_status(refresh=True) == "queued"
    dashboard.stop()
