"""The shared bases of every handle: bounded start and stop that speak, `with` blocks, the
port-in-use error, one round trip through each queue, and a watchdog that loads no package."""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI

import workbook as wb
from app_snippets.ch00_setup import quickstart_rq
from workbook import _proctree, _registry, _threads, _watchdog
from workbook._net import PortInUse, bind, free_port
from workbook._roundtrip import round_trip


def make_app(title: str = "handles") -> FastAPI:
    app = FastAPI(title=title)
    app.get("/ping")(lambda: {"pong": True})
    return app


def _busy_rq_worker(redis_server):
    worker = wb.rq_worker(["slow-stop"], serializer="json")
    job = quickstart_rq.queue("slow-stop").enqueue("time.sleep", 3)
    wb.wait_for(lambda: job.get_status(refresh=True) == "started", 1, limit=15)
    return (
        worker,
        "rq worker still runs",
        lambda wait=True: (
            wb.wait_for(lambda: job.get_status(refresh=True) == "finished", 3, limit=20)
            if wait
            else job.get_status(refresh=True) == "finished"
        ),
    )


def _busy_celery_worker(redis_server):
    from celery import Celery

    app = Celery("slow_stop", broker=redis_server.url, backend=redis_server.url)

    @app.task(shared=False)
    def nap(seconds: float) -> str:
        time.sleep(seconds)
        return "rested"

    worker = wb.celery_worker(app)
    result = nap.delay(3)
    wb.wait_for(lambda: worker.worker.state.active_requests, 1, limit=15)
    return (
        worker,
        "still run",
        lambda wait=True: result.get(timeout=20) == "rested" if wait else result.ready(),
    )


@pytest.mark.parametrize("busy", [_busy_rq_worker, _busy_celery_worker], ids=["rq", "celery"])
def test_a_thread_that_does_not_end_in_time_makes_stop_raise_naming_the_wait(redis_server, busy):
    worker, still, task_ended = busy(redis_server)
    with pytest.raises(wb.WorkbookError) as error:
        worker.stop(timeout=0.2)
    assert not task_ended(wait=False), "stop() waited for the task: it is not bounded"
    message = str(error.value)
    assert "did not stop within 0.2 s" in message and still in message
    assert ".stop(timeout=...)" in message and "Kernel > Restart" in message
    assert "still runs at:" in message and 'File "' in message, "no stack of the stuck thread"
    assert worker not in _registry.handles(), "a stop that timed out still lets go of the name"
    assert task_ended()
    wb.wait_for(lambda: not worker.running(), 1, limit=20)  # the task ended: so does the worker


def test_a_celery_thread_worker_stops_in_its_own_thread_and_the_next_one_consumes(redis_server):
    """Celery's stop() from another thread closes the broker's channels under the loop that
    reads them (a stop that never ended, seen in CI): the loop must stop itself, on the flag."""
    from celery import Celery
    from celery.worker import state

    app = Celery("own_thread", broker=redis_server.url, backend=redis_server.url)

    @app.task(shared=False)
    def add(x: int, y: int) -> int:
        return x + y

    for _ in range(2):  # the second worker would stop at once on a flag left set
        worker = wb.celery_worker(app)
        assert add.delay(2, 3).get(timeout=10) == 5
        stopped_in: list[str] = []

        def spy(*args, _stop=worker.worker.stop, _seen=stopped_in, **kwargs):
            _seen.append(threading.current_thread().name)
            return _stop(*args, **kwargs)

        worker.worker.stop = spy
        worker.stop()
        assert stopped_in == ["celery worker"], "Celery's stop ran outside the worker's thread"
        assert not worker.running() and state.should_stop is None


def test_a_start_that_times_out_raises_with_the_log_lines(monkeypatch):
    @asynccontextmanager
    async def lifespan(app):
        await asyncio.sleep(3)  # a startup slower than the limit (then it ends by itself)
        yield

    monkeypatch.setattr(_threads, "READY_TIMEOUT", 0.5)
    with pytest.raises(wb.WorkbookError) as error:
        wb.serve(FastAPI(title="slow start", lifespan=lifespan))
    assert "The app FastAPI slow start did not start within 0.5 s." in str(error.value)
    assert "Waiting for application startup" in error.value.logs, "the log lines come along"


def test_a_thread_server_stops_at_the_end_of_a_with_block_even_after_an_error():
    with pytest.raises(ZeroDivisionError), wb.serve(make_app()) as api:
        assert api.client.get("/ping").json() == {"pong": True}
        1 / 0  # noqa: B018
    assert not api.thread.is_alive() and api not in _registry.handles()
    with pytest.raises(httpx.ConnectError):
        httpx.get(api.url + "/ping", timeout=2)


def test_process_handles_and_thread_workers_are_context_managers(redis_server):
    with wb.serve("app_snippets.ch00_setup.slow_report:app", process=True) as api:
        assert api.alive() and api.client.get("/reports/unknown").status_code == 404
    assert not api.alive()
    with wb.rq_worker(["ctx"], serializer="json", process=True) as worker:
        assert round_trip(quickstart_rq.add, 2, 3, queue=quickstart_rq.queue("ctx")).result == 5
    assert not worker.alive()
    with wb.rq_worker(["ctx"], serializer="json") as thread_worker:
        assert thread_worker.thread.is_alive()
    assert not thread_worker.thread.is_alive() and _registry.handles() == [redis_server]


def test_port_in_use_is_a_workbook_error_naming_the_port_and_the_fix():
    with bind(None) as holder:
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(PortInUse) as error:
            bind(port)
    assert isinstance(error.value, wb.WorkbookError) and error.value.port == port
    assert f"Port {port} on 127.0.0.1" in str(error.value)
    assert "leave out port=" in error.value.fix and f"lsof -i :{port}" in error.value.fix
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", free_port()))  # a free port binds


def test_round_trip_without_a_worker_says_which_to_start(redis_server):
    queue = quickstart_rq.queue("nobody-listens")
    with pytest.raises(wb.WorkbookError) as error:
        round_trip(quickstart_rq.add, 2, 3, queue=queue, timeout=0.5)
    assert "No result from the rq task add within 0.5 s" in str(error.value)
    assert "wb.rq_worker(" in str(error.value)
    with wb.rq_worker(["elsewhere"], serializer="json") as worker:  # runs, on another queue
        with pytest.raises(wb.WorkbookError) as error:
            round_trip(quickstart_rq.add, 2, 3, queue=queue, timeout=0.5)
        assert "1 rq worker(s) run (<rq thread worker" in error.value.fix
        assert "elsewhere" in error.value.fix and "wb.rq_worker(" not in error.value.fix
        assert worker.logs(8).strip() and worker.logs(8).strip() in error.value.logs
    queue.empty()


def test_round_trip_reports_a_failed_job_and_refuses_what_it_cannot_send(redis_server):
    with wb.rq_worker(["fails"], serializer="json"):
        trip = round_trip(quickstart_rq.add, 2, 3, queue=quickstart_rq.queue("fails"))
        assert (trip.library, trip.result) == ("rq", 5) and 0 < trip.seconds < 10
        with pytest.raises(wb.WorkbookError, match=r"The RQ job .* failed") as error:
            round_trip("app_snippets.nope.add", 1, 2, queue=quickstart_rq.queue("fails"))
        assert "Invalid attribute name" in error.value.logs  # the job's own error comes along
    with pytest.raises(wb.WorkbookError, match="cannot send"):
        round_trip(print, 1)


def test_public_names_report_workbook_as_their_module():
    for name in wb.__all__:
        assert getattr(wb, name).__module__ == "workbook", name
    # Before anything looked the name up: the last line of a traceback names the package.
    raised = subprocess.run(
        [sys.executable, "-c", "import workbook; workbook.run_command('x', cwd='/nonexistent')"],
        capture_output=True,
        text=True,
    )
    assert raised.stderr.splitlines()[-2].startswith("workbook.WorkbookError: no folder")


def test_the_watchdog_loads_only_the_standard_library_psutil_and_its_tree_module(tmp_path):
    def loaded(*argv: str) -> set[str]:
        run = subprocess.run(
            [sys.executable, "-I", "-X", "importtime", *argv],
            input="",
            capture_output=True,
            text=True,
            timeout=30,
        )
        return {name.split(".")[0] for name in re.findall(r"\|\s+(\S+)$", run.stderr, re.M)}

    bare = loaded("-c", "pass")  # what Python's start-up (site, .pth files) loads anyway
    own = loaded(_watchdog.__file__, str(tmp_path / "run")) - bare
    assert {"_proctree", "psutil"} <= own, sorted(own)
    assert own - set(sys.stdlib_module_names) == {"_proctree", "psutil"}, sorted(own)


@pytest.mark.parametrize(
    ("sig", "order"),
    [
        (signal.SIGKILL, [("process", 1000), ("group", 1000), ("process", 1001)]),
        (signal.SIGTERM, [("group", 1000), ("process", 1001)]),
    ],
)
def test_a_tree_is_killed_parent_group_first_its_strays_found_before(monkeypatch, sig, order):
    """A worker that outlived its work horse by a moment would record the horse's death
    (notebook 03's "both killed" crash read "failed" on a loaded machine; notebook 02's
    acks_late crash read "1 lost"): a SIGKILL takes the leader alone, before its group,
    which the kernel signals children first; a SIGTERM reaches the leader once."""
    calls: list[tuple[str, int]] = []
    # The strays are below the parent only while its group lives, as after a real kill.
    monkeypatch.setattr(_proctree, "descendants", lambda pid: set() if calls else {pid + 1})
    monkeypatch.setattr(_proctree.os, "killpg", lambda pid, sig: calls.append(("group", pid)))
    monkeypatch.setattr(_proctree.os, "kill", lambda pid, sig: calls.append(("process", pid)))
    _proctree.kill_tree(1000, sig)
    assert calls == order
