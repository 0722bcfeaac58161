"""Chapter 06's app snippets, through real workers on a real Redis: retry defaults and dead
letters replayed, bytes and memory limits on a demo server, backpressure over HTTP, charges
counted after a duplicate and after a killed worker, the transaction race and the outbox."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from collections import Counter

import pytest
import redis.exceptions
import rq
from kombu.exceptions import OperationalError

import workbook as wb
from app_snippets.ch06_pitfalls_delivery import (
    backpressure,
    flood,
    orders,
    outage,
    payments,
    retries,
)
from app_snippets.ch06_pitfalls_delivery import results as results_demo
from workbook import wait_for

LIBRARIES = ("celery", "rq", "dramatiq")


@pytest.fixture
def store(redis_server):
    client = redis_server.client()
    client.flushdb()
    return client


def attempts(store, run: str) -> Counter:
    return Counter(e.split(" ", 1)[1] for e in store.lrange(f"ch06:attempts:{run}", 0, -1))


def test_each_library_default_retry_policy_and_its_dead_letter_place(store):
    wb.celery_worker(retries.celery_app, concurrency=4)
    wb.rq_worker([retries.QUEUE], serializer="json")
    wb.dramatiq_worker(retries.broker, threads=4)
    run = f"t-{uuid.uuid4().hex[:6]}"
    store.set(f"ch06:down:{run}", 1)
    retries.celery_fail_plain.delay(run, "celery plain")
    retries.celery_fail_autoretry.delay(run, "celery auto")
    retries.rq_queue().enqueue(retries.rq_fail, run, "rq")
    retries.dramatiq_fail.send(run, "dramatiq")
    expected = {"celery plain": 1, "celery auto": 4, "rq": 1, "dramatiq": 21}
    wait_for(lambda: attempts(store, run) == expected, seconds=30)
    wait_for(lambda: retries.dramatiq_dead_letters(), seconds=10)
    time.sleep(0.5)
    assert attempts(store, run) == expected  # no attempt more
    store.delete(f"ch06:down:{run}")
    assert (retries.rq_replay(), retries.dramatiq_replay()) == (1, 1)
    wait_for(lambda: store.scard(f"ch06:succeeded:{run}") == 2, seconds=10)
    assert retries.dramatiq_dead_letters() == {} and not len(retries.rq_queue().failed_job_registry)


@pytest.mark.parametrize("policy", list(retries.POLICIES))
def test_a_storm_task_retries_five_times_then_dead_letters_and_replays(store, policy):
    wb.celery_worker(retries.celery_app, concurrency=4)
    run = f"s-{uuid.uuid4().hex[:6]}"
    store.set(f"ch06:down:{run}", 1)
    for n in range(3):
        retries.celery_storm.delay(run, str(n), policy)
    wait_for(lambda: store.llen(retries.CELERY_DEAD_LETTERS) == 3, seconds=40)
    assert attempts(store, run) == {str(n): retries.STORM_RETRIES + 1 for n in range(3)}
    letter = json.loads(store.lindex(retries.CELERY_DEAD_LETTERS, 0))
    assert letter["args"][0] == run and "dependency unreachable" in letter["error"]
    store.delete(f"ch06:down:{run}")
    assert retries.celery_replay() == 3 and retries.celery_replay() == 0
    wait_for(lambda: store.scard(f"ch06:succeeded:{run}") == 3, seconds=10)


def test_rq_storm_jobs_retry_on_their_listed_waits_then_fail_and_replay(store):
    fixed, jittered = retries.rq_retry("fixed"), retries.rq_retry("backoff+jitter")
    assert fixed.max == jittered.max == retries.STORM_RETRIES
    assert fixed.intervals == [retries.FIXED_DELAY] * retries.STORM_RETRIES
    assert jittered.intervals != retries.rq_retry("backoff+jitter").intervals  # drawn per job
    queue = retries.rq_queue()
    wb.rq_worker([retries.QUEUE], serializer="json", with_scheduler=True)
    run = f"r-{uuid.uuid4().hex[:6]}"
    store.set(f"ch06:down:{run}", 1)
    jobs = [queue.enqueue(retries.rq_storm, run, str(n), retry=fixed) for n in range(3)]
    wait_for(lambda: len(queue.failed_job_registry) == 3, seconds=60)
    assert attempts(store, run) == {str(n): retries.STORM_RETRIES + 1 for n in range(3)}
    assert all(job.get_status(refresh=True) == "failed" for job in jobs)
    store.delete(f"ch06:down:{run}")
    assert retries.rq_replay() == 3 and retries.rq_replay() == 0
    wait_for(lambda: store.scard(f"ch06:succeeded:{run}") == 3, seconds=20)
    assert attempts(store, run) == {str(n): retries.STORM_RETRIES + 2 for n in range(3)}


def test_backoff_with_jitter_is_bounded_and_spread():
    for n in range(8):
        delays = [retries.backoff_with_jitter(n) for _ in range(200)]
        ceiling = min(retries.MAX_DELAY, retries.BASE_DELAY * 2**n)
        assert all(0 <= d <= ceiling for d in delays) and len(set(delays)) > 150
    assert {retries.fixed_delay(n) for n in range(8)} == {retries.FIXED_DELAY}


@pytest.fixture
def flood_server():
    server = wb.start_redis(name="test flood")
    yield server
    server.stop()


def test_queued_tasks_cost_bytes_and_bulk_enqueue_queues_them_all(flood_server):
    client = flood_server.client()
    senders = flood.Senders(flood_server.url)
    for library in LIBRARIES:
        senders.one_by_one(library, range(50))
        senders.in_bulk(library, range(50, 150))
    assert flood.intact(client) == {library: 150 for library in LIBRARIES}
    senders.close()


def test_noeviction_fails_the_enqueue_call_and_lru_loses_tasks_silently(flood_server):
    client = flood_server.client()
    senders = flood.Senders(flood_server.url)
    # RQ enqueues in a MULTI/EXEC transaction: a refusal while a command is queued aborts it
    # (ExecAbortError, "Transaction discarded because of: OOM ..."), at EXEC it is OOM itself.
    refused = (redis.exceptions.OutOfMemoryError, redis.exceptions.ExecAbortError)
    errors = {"celery": OperationalError, "rq": refused,
              "dramatiq": redis.exceptions.OutOfMemoryError}  # fmt: skip
    for library in LIBRARIES:
        client.execute_command("FLUSHALL", "SYNC")
        client.config_set("maxmemory", client.info("memory")["used_memory"] + 256 * 1024)
        with pytest.raises(errors[library], match="maxmemory"):
            senders.one_by_one(library, range(20_000))
        client.config_set("maxmemory", 0)
    # As the notebook does: evict on the spot. Valkey 8 frees evicted keys on a background
    # thread by default, and a send that comes before the free is refused even under LRU.
    client.config_set("lazyfree-lazy-eviction", "no")
    for library in LIBRARIES:
        client.execute_command("FLUSHALL", "SYNC")  # freed before used_memory is read
        client.config_set("maxmemory-policy", "allkeys-lru")
        client.config_set("maxmemory", client.info("memory")["used_memory"] + 256 * 1024)
        senders.one_by_one(library, range(1500))  # no error
        assert flood.intact(client)[library] < 1500, f"{library}: nothing was evicted"
        client.config_set("maxmemory", 0)
    senders.close()


def test_backpressure_answers_503_with_retry_after_then_202_once_drained(store):
    api = wb.serve(backpressure.app)
    for library in LIBRARIES:
        codes = [api.client.post(f"/reports/{library}/{n}").status_code for n in range(55)]
        assert Counter(codes) == {202: backpressure.LIMIT, 503: 5}
        refused = api.client.post(f"/reports/{library}/0")
        assert refused.headers["retry-after"] == str(backpressure.RETRY_AFTER)
        assert backpressure.backlog(library) == backpressure.LIMIT
    wb.celery_worker(backpressure.celery_app)
    wb.rq_worker([backpressure.QUEUE], serializer="json")
    wb.dramatiq_worker(backpressure.broker)
    wait_for(lambda: all(backpressure.backlog(lib) == 0 for lib in LIBRARIES), seconds=30)
    assert {api.client.post(f"/reports/{lib}/1").status_code for lib in LIBRARIES} == {202}


def test_a_double_submit_charges_twice_unless_the_task_is_idempotent(store):
    wb.celery_worker(payments.celery_app, concurrency=4)
    naive, once = ["n1", "n2", "n3"], ["o1", "o2", "o3"]
    for order in naive:
        for _ in range(2):  # the same task id twice: Celery runs both
            payments.celery_charge.apply_async((order, 100), task_id=f"charge-{order}")
    for order in once:
        for _ in range(2):
            payments.celery_charge_once.delay(order, 100)
    wait_for(lambda: payments.receipts("celery") == 6, seconds=20)
    time.sleep(3 * payments.RECEIPT_SECONDS)
    assert payments.tally("celery", naive)["charged twice or more"] == 3
    assert payments.tally("celery", once)["charged once"] == 3
    assert all(store.ttl(f"ch06:idempotency:celery:charge:{o}") > 0 for o in once)


def test_rq_unique_refuses_a_second_enqueue_of_a_job_that_exists(redis_server, store):
    connection = redis_server.client(decode_responses=False)
    queue = rq.Queue(payments.QUEUE, connection=connection, serializer="json")
    queue.enqueue(payments.rq_charge, "u1", 100, job_id="charge-u1", unique=True)
    with pytest.raises(rq.exceptions.DuplicateJobError):
        queue.enqueue(payments.rq_charge, "u1", 100, job_id="charge-u1", unique=True)


def test_a_killed_dramatiq_worker_charges_twice_and_the_idempotent_task_once(store):
    module = "app_snippets.ch06_pitfalls_delivery.payments:broker"
    results = {}
    for idempotent in (False, True):
        store.flushdb()
        worker = wb.dramatiq_worker(module, process=True, threads=4)
        actor = payments.dramatiq_charge_once if idempotent else payments.dramatiq_charge
        batch = [f"k{n}" for n in range(8)]
        for order in batch:
            actor.send(order, 100)
        wait_for(lambda: store.llen(payments.ledger("dramatiq")) >= 4, seconds=20)
        worker.kill()
        worker.restart()
        wait_for(lambda: payments.receipts("dramatiq") == 8, seconds=30)
        time.sleep(0.3)
        results[idempotent] = payments.tally("dramatiq", batch)
        worker.stop()
    assert results[False]["charged twice or more"] >= 1 and results[False]["never charged"] == 0
    assert results[True]["charged once"] == 8


@pytest.fixture
def orders_db(tmp_path, monkeypatch, store):
    monkeypatch.setenv("ORDERS_DB", str(tmp_path / "orders.db"))
    wb.celery_worker(orders.celery_app)
    wb.rq_worker([orders.QUEUE], serializer="json")
    wb.dramatiq_worker(orders.broker)


def test_enqueue_before_commit_runs_before_the_order_exists(orders_db, store):
    api = wb.serve(orders.app)
    for n in range(5):
        for library in LIBRARIES:
            assert api.client.post(f"/race/{library}/r{library}{n}").status_code == 201
    ran = ("ch06:orders:not-found", "ch06:orders:fulfilled")
    wait_for(lambda: sum(store.llen(key) for key in ran) == 15)
    assert sum(c["ran before the commit"] for c in orders.tally().values()) > 0


def test_the_outbox_relay_sends_each_saved_order_once(orders_db, store):
    api = wb.serve(orders.app)
    for n in range(5):
        for library in LIBRARIES:
            assert api.client.post(f"/outbox/{library}/o{library}{n}").status_code == 201
    assert store.llen("ch06:orders:fulfilled") == 0  # nothing sent by the API
    assert orders.relay_once() == 15 and orders.relay_once() == 0
    wait_for(lambda: store.llen("ch06:orders:fulfilled") == 15)
    time.sleep(0.3)
    assert all(c == {"saved": 5, "fulfilled once": 5, "twice or more": 0, "never (lost)": 0,
                     "ran before the commit": 0} for c in orders.tally().values())  # fmt: skip


def test_bounded_clients_give_up_on_a_hung_redis_and_default_ones_wait(flood_server):
    senders = {
        "default": flood.Senders(flood_server.url),
        "bounded": flood.Senders(flood_server.url, timeout=0.5),
    }
    for clients in senders.values():
        for library in LIBRARIES:
            clients.one_by_one(library, range(1))
    outcomes: dict = {}

    def send(setting: str, library: str) -> None:
        try:
            senders[setting].one_by_one(library, range(1))
            outcomes[setting, library] = "sent"
        except Exception as error:
            outcomes[setting, library] = type(error).__name__

    os.kill(flood_server.pid, signal.SIGSTOP)
    try:
        threads = [
            threading.Thread(target=send, args=(s, lib), daemon=True)
            for s in senders
            for lib in LIBRARIES
        ]
        for thread in threads:
            thread.start()
        wait_for(lambda: len(outcomes) >= len(LIBRARIES), seconds=10)
        assert {outcomes.get(("bounded", lib)) for lib in LIBRARIES} <= {
            "TimeoutError",
            "OperationalError",
        }
        assert not any(key[0] == "default" for key in outcomes)  # still waiting
    finally:
        os.kill(flood_server.pid, signal.SIGCONT)
    for thread in threads:
        thread.join(10)
    assert {outcomes["default", lib] for lib in LIBRARIES} == {"sent"}
    for clients in senders.values():
        clients.close()


def test_the_ledger_records_each_start_and_finish_outside_redis(tmp_path, monkeypatch):
    monkeypatch.setenv("OUTAGE_LEDGER", str(tmp_path / "ledger.log"))
    assert outage.read_ledger() == []
    assert outage.work("rq", 7) == 7
    events = outage.read_ledger()
    assert [(event, lib, n) for _, event, lib, n in events] == [
        ("started", "rq", 7),
        ("finished", "rq", 7),
    ]
    assert events[1][0] - events[0][0] >= outage.TASK_SECONDS * 0.9


def start_worker_against(server, library: str, clients, monkeypatch, *, process: bool = False):
    """A worker of `library` whose REDIS_URL is `server`'s, as a deployment would set it."""
    module = "app_snippets.ch06_pitfalls_delivery.outage"
    with monkeypatch.context() as patch:
        patch.setenv("REDIS_URL", server.url)
        if library == "celery":
            return wb.celery_worker(f"{module}:celery_app" if process else clients.celery_app,
                                    process=process, concurrency=1)  # fmt: skip
        if library == "rq":
            return wb.rq_worker([outage.QUEUE], process=process, serializer="json")
        if process:
            return wb.dramatiq_worker(f"{module}:broker", process=True, threads=1)
        return wb.dramatiq_worker(clients.broker, threads=1)


@pytest.mark.parametrize("persistence", ["none", "appendonly"])
def test_a_redis_restart_keeps_queued_tasks_and_results_only_with_appendonly(
    persistence, tmp_path, monkeypatch
):
    monkeypatch.setenv("OUTAGE_LEDGER", str(tmp_path / "ledger.log"))
    config = {"appendonly": "yes", "appendfsync": "everysec"} if persistence == "appendonly" else {}
    server = wb.start_redis(name=f"test outage {persistence}", config=config)
    clients = outage.Queues(server.url)
    workers = [start_worker_against(server, lib, clients, monkeypatch) for lib in LIBRARIES]
    for library in LIBRARIES:
        clients.send(library, 0)
    wait_for(lambda: outage.results(server.client()) == dict.fromkeys(LIBRARIES, 1), seconds=30)
    for worker in workers:
        worker.stop()
    for library in LIBRARIES:  # no worker runs: these wait in Redis
        for n in range(1, 4):
            clients.send(library, n)
    assert outage.queued(server.client()) == dict.fromkeys(LIBRARIES, 3)
    server.restart()
    kept = 1 if persistence == "appendonly" else 0
    assert outage.results(server.client()) == dict.fromkeys(LIBRARIES, kept)
    assert outage.queued(server.client()) == dict.fromkeys(LIBRARIES, 3 * kept)
    clients.close()
    server.stop()


def test_rq_and_dramatiq_workers_consume_again_after_a_redis_restart_and_celery_if_alive(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("OUTAGE_LEDGER", str(tmp_path / "ledger.log"))
    server = wb.start_redis(name="test outage workers")
    clients = outage.Queues(server.url)
    workers = {lib: start_worker_against(server, lib, clients, monkeypatch, process=True)
               for lib in LIBRARIES}  # fmt: skip
    server.restart()
    for library in LIBRARIES:  # the same client objects: redis-py reconnects by itself
        clients.send(library, 100)

    def ran(library: str) -> bool:
        return any(e == "finished" and lib == library for _, e, lib, _ in outage.read_ledger())

    wait_for(lambda: all(ran(lib) or not workers[lib].alive() for lib in LIBRARIES), seconds=30)
    assert ran("rq") and ran("dramatiq"), "RQ and Dramatiq workers reconnect by themselves"
    if not ran("celery"):  # kombu 5.7 can crash on the reconnect: a process manager restarts it
        assert not workers["celery"].alive()
        with monkeypatch.context() as patch:
            patch.setenv("REDIS_URL", server.url)
            workers["celery"].restart()
        wait_for(lambda: ran("celery"), seconds=30)
    for worker in workers.values():
        worker.stop()
    clients.close()
    server.stop()


def footprint_after_five(server, library: str, policy: str, monkeypatch) -> tuple[int, int]:
    """Five tasks run by a real worker with a result policy; what their results hold in Redis."""
    client = server.client()
    client.delete(*results_demo.result_keys(client, library), "-")
    clients = results_demo.ResultSenders(library, policy, server.url)
    with monkeypatch.context() as patch:
        patch.setenv("REDIS_URL", server.url)
        if library == "celery":
            worker = wb.celery_worker(clients.celery_app)
        elif library == "rq":
            worker = wb.rq_worker([results_demo.QUEUE], serializer="json")
        else:
            worker = wb.dramatiq_worker(clients.broker)
    for n in range(5):
        clients.send(n)
    wait_for(lambda: results_demo.waiting(client, library) == 0, seconds=20)
    if policy == "stored":
        wait_for(lambda: results_demo.footprint(client, library)[0] >= 5, seconds=10)
    time.sleep(0.3)  # any late result write
    worker.stop()
    clients.close()
    return results_demo.footprint(client, library)


def test_results_stay_by_default_expire_with_a_ttl_and_cost_nothing_when_not_stored(
    flood_server, monkeypatch
):
    with pytest.raises(ValueError, match="policy must be one of"):
        results_demo.ResultSenders("rq", "forever", flood_server.url)
    keys = {
        (library, policy): footprint_after_five(flood_server, library, policy, monkeypatch)
        for library in LIBRARIES
        for policy in ("stored", "not stored", "expiring")  # expiring last: its keys stay
    }
    time.sleep(results_demo.EXPIRES + 0.3)
    for library in LIBRARIES:
        assert keys[library, "stored"][0] >= 5 and keys[library, "stored"][1] > 0
        assert keys[library, "not stored"] == (0, 0)
        assert results_demo.footprint(flood_server.client(), library) == (0, 0), library
