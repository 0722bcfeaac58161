"""Chapter 03's app snippets (RQ), each through a real Redis and a real RQ worker, and the
FastAPI app through a real server over HTTP. Timings hold at any DEMO_TIME_SCALE."""

from __future__ import annotations

import importlib
import time
import zlib

import pytest
from redis import Redis
from rq import Queue, Retry
from rq.job import Job
from rq.serializers import JSONSerializer
from waiting import wait_until

import workbook as wb
from app_snippets import rq_pickle_payload, rq_tasks
from app_snippets.settings import seconds


@pytest.fixture
def connection(redis_server) -> Redis:
    return Redis.from_url(redis_server.url)


def settled(job: Job) -> bool:
    return job.get_status(refresh=True) in ("finished", "failed")


@pytest.mark.parametrize("module", ["rq_article", "rq_article_worker"])
def test_the_articles_code_no_longer_imports(module):
    with pytest.raises(ImportError, match="Connection"):
        importlib.import_module(f"app_snippets.{module}")


def test_the_fixed_app_reports_every_state_of_a_job(redis_server):
    from app_snippets import rq_emails

    api = wb.serve(rq_emails.app)
    post = lambda to: api.client.post("/emails", json={"to": to, "subject": "Hi"})  # noqa: E731
    good, bad = post("ada@example.com"), post("nobody")
    assert good.status_code == 202 and good.json()["status"] == "queued"
    record = lambda r: api.client.get(f"/jobs/{r.json()['job_id']}").json()  # noqa: E731
    assert record(good)["status"] == "queued"  # no worker yet
    worker = wb.rq_worker([rq_emails.QUEUE], process=True, serializer="json")
    wait_until(lambda: record(bad)["status"] in ("finished", "failed"), 3 * seconds(1) + 10)
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
    wait_until(lambda: settled(lost), 10)
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
        wait_until(lambda job=job: settled(job), 10)
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
    wait_until(lambda: settled(once) and settled(four), 10)
    assert store.llen(rq_tasks.attempts_key("ch03-once")) == 1
    assert store.llen(rq_tasks.attempts_key("ch03-four")) == 4
    wait_until(lambda: spaced.get_status(refresh=True) == "scheduled", 10)  # its 1 s interval
    time.sleep(1.5)
    assert spaced.get_status(refresh=True) == "scheduled"  # no scheduler: it waits forever
    worker = wb.rq_worker(["ch03-retries"], serializer="json", with_scheduler=True)
    wait_until(lambda: settled(spaced), 10)
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
    wait_until(lambda: settled(chains["2024-06-01"][2]) and settled(chains["never"][0]), 10)
    assert chains["2024-06-01"][2].return_value() == "published: 62.49 EUR"
    time.sleep(0.2)
    statuses = [job.get_status(refresh=True) for job in chains["never"]]
    assert statuses == ["failed", "deferred", "deferred"]
    worker.stop()


def test_cron_enqueues_every_second_with_pickle(connection):
    from app_snippets import rq_cron_config

    queue = Queue(rq_cron_config.QUEUE, connection=connection)
    queue.empty()
    cron = wb.rq_cron("app_snippets.rq_cron_config", serializer="json")
    wait_until(lambda: queue.count >= 2, 10)
    data = zlib.decompress(connection.hget(f"rq:job:{queue.get_job_ids()[0]}", "data"))
    assert data[:1] == b"\x80"  # pickle, whatever --serializer says (RQ 3.0)
    worker = wb.rq_worker([rq_cron_config.QUEUE])
    wait_until(lambda: queue.finished_job_registry.count >= 1, 10)
    cron.stop()
    worker.stop()


def test_rq_dashboard_lists_queues_and_workers(connection):
    pytest.importorskip("rq_dashboard")
    from app_snippets import rq_dashboard_app

    Queue("ch03-dashboard", connection=connection, serializer=JSONSerializer).enqueue(
        rq_tasks.sleep_for, 0
    )
    worker = wb.rq_worker(["ch03-dashboard-idle"], serializer="json")
    dashboard = wb.serve(rq_dashboard_app.create_dashboard(), name="rq-dashboard")
    queues = dashboard.client.get("/rq/0/data/queues.json").json()["queues"]
    assert "ch03-dashboard" in {queue["name"] for queue in queues}
    workers = dashboard.client.get("/rq/0/data/workers.json").json()["workers"]
    assert worker.name in {w["name"] for w in workers}
    assert dashboard.client.get("/rq/").status_code == 200
    dashboard.stop()
    worker.stop()
