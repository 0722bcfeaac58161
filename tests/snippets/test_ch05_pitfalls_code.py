"""Chapter 05's app snippets (pitfalls in what code hands the queue), each through real Celery,
RQ and Dramatiq workers on the session's Redis. Timings are compared with each other (an
email's wait against a report's length), so they hold at any DEMO_TIME_SCALE."""

from __future__ import annotations

import importlib
import os
import secrets
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import dramatiq
import dramatiq.broker
import pytest

import workbook as wb
from app_snippets.ch05_pitfalls_code import (
    crafted,
    leaks,
    orders,
    payments,
    probe,
    registry,
    rq_reports,
    starvation,
    unsafe,
)
from app_snippets.ch05_pitfalls_code.brokers import broker, celery_app, results_backend, rq_queue
from app_snippets.settings import seconds
from workbook import wait_for


@pytest.fixture(autouse=True)
def _keep_dramatiqs_global_broker():
    """Modules of this chapter call dramatiq.set_broker() when imported: give the global
    broker back after each test, so that later tests find the one they set."""
    before = dramatiq.broker.global_broker
    yield
    dramatiq.broker.global_broker = before


@pytest.fixture(scope="module")
def probe_workers():
    """RQ (pickle and json) and Dramatiq workers for the probe; Celery is per test."""
    wb.start_redis()
    handles = [
        wb.rq_worker([probe.PROBE_QUEUE, orders.ORDERS_QUEUE]),
        wb.rq_worker([probe.PROBE_JSON_QUEUE, orders.ORDERS_JSON_QUEUE], serializer="json"),
        wb.dramatiq_worker(broker, threads=4),
    ]
    yield handles
    for handle in handles:
        handle.stop()


def sample(name: str) -> object:
    return probe.samples()[name]()


def test_json_queues_turn_tuples_into_lists_and_refuse_sets(probe_workers):
    wb.celery_worker(celery_app)
    for queue in ("celery json", "rq json", "dramatiq json"):
        assert probe.trip(queue, sample("tuple")) == "~ arrives as list", queue
        assert probe.trip(queue, sample("set")).startswith("✗ at enqueue"), queue
        assert probe.trip(queue, sample("1 MB payload")) == "✓ equal", queue
    # Celery's JSON tags datetime and Decimal; RQ's and Dramatiq's JSON refuse them.
    assert probe.trip("celery json", sample("datetime (UTC)")) == "✓ equal"
    assert probe.trip("celery json", sample("Decimal")) == "✓ equal"
    for queue in ("rq json", "dramatiq json"):
        assert probe.trip(queue, sample("datetime (UTC)")) == "✗ at enqueue: TypeError", queue


def test_pickle_carries_objects_but_no_live_resource(probe_workers):
    wb.celery_worker(unsafe.celery_pickle_app)
    for queue in ("celery pickle", "rq pickle"):
        for name in ("tuple", "set", "dataclass", "pydantic model", "Decimal"):
            assert probe.trip(queue, sample(name)) == "✓ equal", (queue, name)
        for name in ("DB connection", "lambda", "FastAPI Request"):
            assert probe.trip(queue, sample(name)).startswith("✗ at enqueue"), (queue, name)


def test_the_dto_arrives_equal_on_every_queue(probe_workers):
    order = orders.Order.model_validate(
        {"id": "6f1c2a4e-8d3b-4c5a-9e7f-0a1b2c3d4e5f", "placed_at": "2030-01-31T09:30:00-05:00",
         "lines": [{"sku": "PEAR", "quantity": 2, "unit_price": "19.990000000000000000001"}]}
    )  # fmt: skip
    outcomes = {}
    for app, queues in (
        (celery_app, ("celery json",)),
        (unsafe.celery_pickle_app, ("celery pickle",)),
    ):
        wb.celery_worker(app)
        for queue in (*queues, "rq pickle", "rq json", "dramatiq json"):
            outcomes[queue] = probe.trip(queue, order, dto=True)
    assert set(outcomes.values()) == {"✓ equal"}, outcomes
    assert probe.trip("dramatiq json", order).startswith("✗ at enqueue")


def test_a_crafted_pickle_runs_in_pickle_workers_and_json_workers_refuse_it(
    tmp_path, probe_workers
):
    dramatiq_pickle = wb.dramatiq_worker(
        "app_snippets.ch05_pitfalls_code.unsafe_dramatiq:broker", process=True, threads=1
    )
    rq_pickle = wb.rq_worker(["ch05-rce"])
    rq_json = wb.rq_worker(["ch05-rce-json"], serializer="json")
    json_celery = wb.celery_worker(celery_app)
    markers = {
        name: tmp_path / name
        for name in ("dramatiq", "rq", "rq-json", "celery-json", "dramatiq-json")
    }
    message_id, data = crafted.dramatiq_message(
        "ch05-dramatiq-pickle", "ch05_pickled", crafted.Marker(str(markers["dramatiq"]))
    )
    broker.do_enqueue("ch05-dramatiq-pickle", message_id, data)
    rq_queue("ch05-rce").enqueue(probe.describe, crafted.Marker(str(markers["rq"])))
    rq_queue("ch05-rce-json").enqueue(probe.describe, crafted.Marker(str(markers["rq-json"])))
    celery_app.tasks["ch05.describe"].apply_async(
        (crafted.Marker(str(markers["celery-json"])),), serializer="pickle"
    )
    # The marker is whole once it holds a pid (write_text empties the file, then writes).
    wait_for(lambda: markers["dramatiq"].exists() and markers["rq"].exists(), seconds=20)
    wait_for(lambda: markers["dramatiq"].read_text().strip(), seconds=10)
    assert int(markers["dramatiq"].read_text()) != os.getpid()  # the worker process ran it
    wait_for(lambda: "DeserializationError" in rq_json.logs(200), seconds=10)
    wait_for(lambda: "ContentDisallowed" in json_celery.logs(200), seconds=10)
    assert not markers["rq-json"].exists() and not markers["celery-json"].exists()
    dramatiq_pickle.stop()
    rq_pickle.stop()


def test_tasks_a_worker_cannot_find(monkeypatch):
    bare = wb.celery_worker("app_snippets.ch05_pitfalls_code.registry:bare_app", process=True)
    lost = registry.bare_app.send_task("ch05.reports.build", args=(7,))
    wait_for(lost.ready, seconds=15)
    assert lost.state == "FAILURE" and "unregistered" in bare.logs(200)
    bare.stop()
    wb.celery_worker("app_snippets.ch05_pitfalls_code.registry:fixed_app", process=True)
    assert (
        registry.fixed_app.send_task("ch05.reports.build", args=(7,)).get(timeout=15)
        == "report 7 built"
    )

    folder = str(Path(rq_reports.__file__).parent)
    monkeypatch.syspath_prepend(folder)
    short = __import__("rq_reports")
    sys.path.remove(folder)
    wb.rq_worker(["ch05-registry-rq"], process=True)
    bad = rq_queue("ch05-registry-rq").enqueue(short.build_report, 7)
    good = rq_queue("ch05-registry-rq").enqueue(rq_reports.build_report, 7)
    wait_for(
        lambda: (
            {bad.get_status(refresh=True), good.get_status(refresh=True)} <= {"failed", "finished"}
        ),
        15,
    )
    assert (
        bad.get_status() == "failed" and "Invalid attribute name" in bad.latest_result().exc_string
    )
    assert good.return_value() == "report 7 built"

    # As in a fresh process: no global broker yet (an earlier test set one), a fresh import.
    monkeypatch.setattr(dramatiq.broker, "global_broker", None)
    monkeypatch.delitem(sys.modules, "app_snippets.ch05_pitfalls_code.early_actor", raising=False)
    early_actor = importlib.import_module("app_snippets.ch05_pitfalls_code.early_actor")
    bound = early_actor.build_report.broker.client.connection_pool.connection_kwargs
    assert early_actor.build_report.broker is not broker and bound["port"] == 6379
    assert urlsplit(os.environ["REDIS_URL"]).port != 6379


def test_a_secret_argument_leaks_and_a_reference_does_not(monkeypatch):
    url = wb.start_redis().url
    api_key = "sk_test_" + secrets.token_hex(12)
    celery_thread = wb.celery_worker(celery_app)
    rq_thread = wb.rq_worker([payments.PAYMENTS_QUEUE])
    wb.dramatiq_worker(broker, threads=2)
    leaked_job = rq_queue(payments.PAYMENTS_QUEUE).enqueue(payments.charge, 3, api_key)
    wait_for(lambda: leaked_job.get_status(refresh=True) == "finished", 15)
    assert api_key in leaked_job.description and leaks.lines_with(rq_thread.logs(200), api_key)
    assert any(key.startswith("rq:job:") for key in leaks.find_in_redis(url, api_key))
    for key in leaks.find_in_redis(url, api_key):
        wb.start_redis().client().delete(key)

    monkeypatch.setenv(payments.API_KEY_VARIABLE, api_key)
    rq_thread.stop()
    rq_thread = wb.rq_worker([payments.PAYMENTS_QUEUE])  # a fresh log to search
    results = [
        payments.celery_charge_safely.delay(1).get(timeout=15),
        payments.dramatiq_charge_safely.send(4).get_result(
            backend=results_backend, block=True, timeout=15_000
        ),
    ]
    job = rq_queue(payments.PAYMENTS_QUEUE).enqueue(payments.charge_safely, 3)
    results.append(
        wait_for(lambda: job.get_status(refresh=True) == "finished" and job.return_value(), 15)
    )
    assert all(result.endswith(f"...{api_key[-4:]})") for result in results), results
    assert leaks.find_in_redis(url, api_key) == {}
    assert not leaks.lines_with(celery_thread.logs(300) + rq_thread.logs(300), api_key + "'")


def test_leaks_finds_plain_zlib_and_base64_values():
    client = wb.start_redis().client()
    url = wb.start_redis().url
    import base64
    import zlib

    token = "needle-" + secrets.token_hex(8)
    client.set("ch05-test:plain", f"x {token} y")
    client.hset("ch05-test:hash", "data", zlib.compress(token.encode()))
    client.rpush(
        "ch05-test:list", '{"body": "' + base64.b64encode(f"[{token}]".encode()).decode() + '"}'
    )
    try:
        hits = leaks.find_in_redis(url, token)
    finally:
        client.delete("ch05-test:plain", "ch05-test:hash", "ch05-test:list")
    assert hits == {
        "ch05-test:plain": "plain",
        "ch05-test:hash": "zlib",
        "ch05-test:list": "base64",
    }


def test_emails_wait_behind_reports_until_routed():
    report = seconds(starvation.REPORT_SECONDS)
    emails_worker = "app_snippets.ch05_pitfalls_code.starvation:broker"
    waits = {}
    for routed in (False, True):
        if routed:
            workers = [
                wb.rq_worker([starvation.REPORTS_QUEUE]),
                wb.rq_worker([starvation.EMAILS_QUEUE]),
                wb.dramatiq_worker(broker, threads=2, queues={starvation.REPORTS_QUEUE}),
                wb.dramatiq_worker(
                    emails_worker, process=True, queues=starvation.EMAILS_QUEUE, threads=1
                ),
            ]
        else:
            workers = [
                wb.rq_worker([starvation.MIXED_QUEUE]),
                wb.dramatiq_worker(broker, threads=2, queues={starvation.MIXED_QUEUE}),
            ]
        runs = {queue: f"{queue}-{routed}-{time.time_ns()}" for queue in ("rq", "dramatiq")}
        for queue, run in runs.items():
            starvation.send_mix(queue, routed, run, reports=4, emails=3)
        names = list(runs.values())
        wait_for(
            lambda names=names: all(len(starvation.waits("email", r)) == 3 for r in names),
            6 * report + 20,
        )
        starvation.drop_queued_reports()
        for worker in workers:
            worker.stop()
        waits[routed] = {queue: starvation.waits("email", run) for queue, run in runs.items()}
    assert (
        min(waits[False]["rq"]) > 3 * report * 0.9 and min(waits[False]["dramatiq"]) > report * 0.9
    )
    for queue in ("rq", "dramatiq"):
        assert max(waits[True][queue]) < min(waits[False][queue]) / 2, waits


def test_a_module_level_async_client_fails_and_a_client_per_task_works():
    from dramatiq.results import ResultFailure

    from app_snippets.ch05_pitfalls_code import async_work

    wb.celery_worker(celery_app, concurrency=2)
    wb.rq_worker([async_work.ASYNC_QUEUE])
    wb.dramatiq_worker(broker, threads=2)
    for shared in (True, False):
        run = f"test-{shared}-{time.time_ns()}"
        celery_task = async_work.celery_count_shared if shared else async_work.celery_count_own
        celery_results = [celery_task.delay(run) for _ in range(4)]
        rq_function = async_work.count_shared if shared else async_work.count_with_own_client
        jobs = [rq_queue(async_work.ASYNC_QUEUE).enqueue(rq_function, run) for _ in range(4)]
        actor = async_work.dramatiq_count_shared if shared else async_work.dramatiq_count_own
        messages = [actor.send(run) for _ in range(4)]
        wait_for(lambda rs=celery_results: all(r.ready() for r in rs), 30)
        wait_for(
            lambda js=jobs: all(j.get_status(refresh=True) in ("finished", "failed") for j in js),
            30,
        )
        failures = sum(not r.successful() for r in celery_results)
        failures += sum(j.get_status() == "failed" for j in jobs)
        for message in messages:
            try:
                message.get_result(backend=results_backend, block=True, timeout=30_000)
            except ResultFailure:
                failures += 1
        if shared:
            assert failures > 0, "the module-level client should fail once its first loop closes"
        else:
            assert failures == 0


def test_a_local_file_is_not_on_the_workers_host_and_the_shared_store_is(tmp_path, monkeypatch):
    from rq.job import Job

    from app_snippets.ch05_pitfalls_code import uploads

    monkeypatch.setenv("CH05_SHARED_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("CH05_LOCAL_DIR", str(tmp_path / "worker-host"))
    worker = wb.rq_worker([uploads.UPLOADS_QUEUE], process=True)  # the other host
    monkeypatch.setenv("CH05_LOCAL_DIR", str(tmp_path / "api-host"))
    api = wb.serve(uploads.app)
    csv_text = "order_id,amount\n1,2.50\n2,3.00\n"
    jobs = {}
    for path in ("/imports/saved-locally", "/imports"):
        answer = api.client.post(
            path, params={"queue": "rq"}, files={"file": ("o.csv", csv_text, "text/csv")}
        )
        assert answer.status_code == 202, answer.text
        jobs[path] = Job.fetch(
            answer.json()["id"], connection=rq_queue(uploads.UPLOADS_QUEUE).connection
        )
    wait_for(
        lambda: all(j.get_status(refresh=True) in ("finished", "failed") for j in jobs.values()), 20
    )
    assert "FileNotFoundError" in jobs["/imports/saved-locally"].latest_result().exc_string
    assert jobs["/imports"].return_value() == 2
    too_big = "order_id,amount\n" + "1,1.00\n" * 200_000
    assert (
        api.client.post(
            "/imports", params={"queue": "rq"}, files={"file": ("o.csv", too_big, "text/csv")}
        ).status_code
        == 413
    )
    png = b"\x89PNG\r\n\x1a\n" + bytes(50)
    assert (
        api.client.post(
            "/imports", params={"queue": "rq"}, files={"file": ("o.csv", png, "text/csv")}
        ).status_code
        == 415
    )
    with pytest.raises(ValueError, match="not a key"):
        uploads.shared_store().get("../../etc/passwd")
    worker.stop()
    api.stop()


# Section 8: stale workers in a rolling deploy. Each release is a folder (a host's checkout);
# RQ and the old Celery worker run as processes there, the rest in this process.
RELEASES = Path(__file__).resolve().parents[2] / "app_snippets" / "ch05_pitfalls_code" / "releases"
RECEIPT_WORKER_COMMANDS = {
    "celery": "celery -A receipts worker -Q ch05-receipts --pool solo --without-mingle"
    " --without-gossip --loglevel INFO",
    "rq": "rq worker -c receipts -S rq.serializers.JSONSerializer ch05-receipts",
}


def _releases():
    from app_snippets.ch05_pitfalls_code.releases.release1 import receipts as release1
    from app_snippets.ch05_pitfalls_code.releases.release2 import receipts as release2
    from app_snippets.ch05_pitfalls_code.releases.release2_compatible import (
        receipts as compatible,
    )

    return release1, release2, compatible


def _start_release(release, celery_process: bool = False) -> dict:
    folder = RELEASES / Path(release.__file__).parent.name
    if celery_process:
        celery = wb.run_command(RECEIPT_WORKER_COMMANDS["celery"], cwd=folder, ready=" ready.")
    else:
        celery = wb.celery_worker(release.celery_app, concurrency=2)
    return {
        "celery": celery,
        "rq": wb.run_command(RECEIPT_WORKER_COMMANDS["rq"], cwd=folder, ready="Listening on"),
        "dramatiq": wb.dramatiq_worker(release.broker, threads=2),
    }


def _clear_receipts(client) -> None:
    from app_snippets.ch05_pitfalls_code import receipts_api

    client.delete(receipts_api.RECEIPTS_QUEUE, receipts_api.OUTBOX)
    rq_queue(receipts_api.RECEIPTS_QUEUE, serializer="json").empty()
    receipts_api.broker.flush(receipts_api.RECEIPTS_QUEUE)


def _receipts(client) -> dict[int, dict]:
    import json

    from app_snippets.ch05_pitfalls_code import receipts_api

    entries = [json.loads(e) for e in client.lrange(receipts_api.OUTBOX, 0, -1)]
    return {entry["order_id"]: entry for entry in entries}


def _orders(*phases: dict[str, dict[str, int]]) -> set[int]:
    return {order for phase in phases for messages in phase.values() for order in messages.values()}


def _settle(sent: dict[str, dict[str, int]], dramatiq_worker, client) -> list[str]:
    """Wait until every message has run once (a receipt, or a failure); what failed."""
    import re

    from app_snippets.ch05_pitfalls_code import receipts_api

    queue = rq_queue(receipts_api.RECEIPTS_QUEUE, serializer="json")

    def failures() -> list[str] | None:
        results = {i: receipts_api.celery_app.AsyncResult(i) for i in sent["celery"]}
        jobs = {i: queue.fetch_job(i) for i in sent["rq"]}
        logs = dramatiq_worker.logs(500)
        retried = set(re.findall(r"Retrying message '([0-9a-f-]+)'", logs))
        undefined = logs.count("Received message for undefined actor")
        done = set(_receipts(client))
        dramatiq_left = [
            o for i, o in sent["dramatiq"].items() if o not in done and i not in retried
        ]
        if not all(r.ready() for r in results.values()) or len(dramatiq_left) > undefined:
            return None
        if not all(j.get_status(refresh=True) in ("finished", "failed") for j in jobs.values()):
            return None
        return [
            *(
                f"celery order {sent['celery'][i]}: {r.result!r}"
                for i, r in results.items()
                if r.failed()
            ),
            *(f"rq order {sent['rq'][i]}" for i, j in jobs.items() if j.get_status() == "failed"),
            *(f"dramatiq order {o}: retried" for i, o in sent["dramatiq"].items() if i in retried),
            *(f"dramatiq order {o}: undefined actor" for o in dramatiq_left),
        ]

    return wait_for(lambda: (found := failures()) is not None and (found,), 30, poll=0.05)[0]


def _dramatiq_retries(worker, message_ids) -> list[int]:
    import re

    found = re.findall(r"Retrying message '([0-9a-f-]+)' in (\d+) milliseconds", worker.logs(500))
    return [int(ms) for message_id, ms in found if message_id in message_ids]


def _assert_each_queue_fails(sent: dict, workers: dict, client, error: str) -> None:
    """Celery: FAILURE, run once, gone from the queue; RQ: failed, in the failed registry;
    Dramatiq: a retry scheduled 15 to 30 s later (the defaults); no receipt anywhere."""
    from rq.registry import FailedJobRegistry
    from rq.serializers import JSONSerializer

    from app_snippets.ch05_pitfalls_code import receipts_api

    results = [receipts_api.celery_app.AsyncResult(i) for i in sent["celery"]]
    wait_for(lambda: all(r.ready() for r in results), 30)
    assert all(r.state == "FAILURE" and isinstance(r.result, TypeError) for r in results)
    assert all(error in str(r.result) for r in results), [str(r.result) for r in results]
    assert client.llen(receipts_api.RECEIPTS_QUEUE) == 0  # acknowledged, not requeued

    queue = rq_queue(receipts_api.RECEIPTS_QUEUE, serializer="json")
    jobs = [queue.fetch_job(i) for i in sent["rq"]]
    wait_for(lambda: all(j.get_status(refresh=True) in ("finished", "failed") for j in jobs), 30)
    assert all(j.get_status() == "failed" for j in jobs)
    assert all(error in j.latest_result().exc_string for j in jobs)
    registry = FailedJobRegistry(
        receipts_api.RECEIPTS_QUEUE, connection=queue.connection, serializer=JSONSerializer
    )
    assert set(sent["rq"]) <= set(registry.get_job_ids())

    ids = set(sent["dramatiq"])
    wait_for(lambda: len(_dramatiq_retries(workers["dramatiq"], ids)) == len(ids), 30)
    assert all(15_000 <= ms <= 30_000 for ms in _dramatiq_retries(workers["dramatiq"], ids))
    assert error in workers["dramatiq"].logs(500)
    assert not _orders(sent) & set(_receipts(client)), "a message the worker cannot take was run"


def test_a_new_task_signature_fails_on_a_worker_of_the_other_release():
    from app_snippets.ch05_pitfalls_code import receipts_api

    client = wb.start_redis().client()
    release1, release2, _ = _releases()
    _clear_receipts(client)
    queues = receipts_api.QUEUES
    # Queued by release 1's API before the deploy, taken by release 2's workers.
    queued = {
        queue: {
            receipts_api.send(queue, "send_receipt", 100 * n + k): 100 * n + k for k in range(2)
        }
        for n, queue in enumerate(queues, start=1)
    }
    new_workers = _start_release(release2)
    _assert_each_queue_fails(
        queued, new_workers, client, "missing 1 required positional argument: 'email'"
    )
    for worker in new_workers.values():
        worker.stop()
    # Sent by release 2's API, taken by a worker still on release 1.
    old_workers = _start_release(release1, celery_process=True)
    sent = {
        queue: {
            receipts_api.send(
                queue, "send_receipt", 1000 * n + k, "b@example.com", currency="USD"
            ): (1000 * n + k)
            for k in range(2)
        }
        for n, queue in enumerate(queues, start=1)
    }
    _assert_each_queue_fails(sent, old_workers, client, "unexpected keyword argument 'currency'")
    for worker in old_workers.values():
        worker.stop()
    _clear_receipts(client)


def test_the_compatible_release_takes_every_message_of_a_rolling_deploy(monkeypatch):
    from app_snippets.ch05_pitfalls_code import receipts_api

    client = wb.start_redis().client()
    release1, _, compatible = _releases()
    _clear_receipts(client)
    old_workers = _start_release(release1, celery_process=True)
    new_workers = _start_release(compatible)

    def send_each(first: int, count: int) -> dict[str, dict[str, int]]:
        return {
            queue: {
                receipts_api.send_receipt(queue, order, f"buyer-{order}@example.com", "USD"): order
                for order in range(first + 100 * n, first + 100 * n + count)
            }
            for n, queue in enumerate(receipts_api.QUEUES)
        }

    monkeypatch.setenv(receipts_api.VERSION_VARIABLE, "1")
    during = send_each(1000, 4)
    failed = _settle(during, new_workers["dramatiq"], client)
    assert not failed, f"old and new workers side by side: {failed}"
    for worker in old_workers.values():
        worker.stop()
    left_over = send_each(2000, 2)  # version 1, still queued when the API switches
    monkeypatch.setenv(receipts_api.VERSION_VARIABLE, "2")
    after = send_each(3000, 3)
    rest = {queue: {**left_over[queue], **after[queue]} for queue in after}
    failed = _settle(rest, new_workers["dramatiq"], client)
    assert not failed, f"after the last old worker stopped: {failed}"
    receipts = _receipts(client)
    for phase, version in ((during, 1), (left_over, 1), (after, 2)):
        for queue, messages in phase.items():
            for order in messages.values():
                # Version 1 carries no address: the worker looked it up; version 2 brought it.
                expected = (
                    (f"customer-{order}@example.com", "EUR")
                    if version == 1
                    else (f"buyer-{order}@example.com", "USD")
                )
                assert (receipts[order]["email"], receipts[order]["currency"]) == expected, queue
    assert {receipts[o]["release"] for o in _orders(left_over, after)} == {compatible.RELEASE}
    every = {queue: {**during[queue], **left_over[queue], **after[queue]} for queue in during}
    assert all(receipts_api.celery_app.AsyncResult(i).state == "SUCCESS" for i in every["celery"])
    queue = rq_queue(receipts_api.RECEIPTS_QUEUE, serializer="json")
    assert all(queue.fetch_job(i).get_status() == "finished" for i in every["rq"])
    assert not _dramatiq_retries(new_workers["dramatiq"], set(every["dramatiq"]))
    for worker in new_workers.values():
        worker.stop()
    _clear_receipts(client)


def test_versions_nobody_reads_are_refused_with_the_fix(monkeypatch):
    from app_snippets.ch05_pitfalls_code import receipts_api

    _, _, compatible = _releases()
    assert compatible.parse({"version": 1, "order_id": "7"}) == (7, "customer-7@example.com", "EUR")
    with pytest.raises(ValueError, match=r"version 3.*reads versions \(1, 2\).*deploy"):
        compatible.parse({"version": 3, "order_id": 7})
    monkeypatch.setenv(receipts_api.VERSION_VARIABLE, "3")
    with pytest.raises(ValueError, match="version 1 or 2"):
        receipts_api.message_version()
    with pytest.raises(ValueError, match="use one of"):
        receipts_api.send("kafka", "send_receipt", 7)
