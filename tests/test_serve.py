"""serve(): real uvicorn in a thread or a process, replaced on re-serve, errors that speak."""

from __future__ import annotations

import gc
import socket
import time
import warnings

import httpx
import pytest
from fastapi import FastAPI

import workbook as wb


def make_app() -> FastAPI:
    app = FastAPI(title="test app")

    @app.get("/ping")
    def ping() -> dict[str, bool]:
        return {"pong": True}

    return app


def test_thread_server_answers_on_loopback():
    api = wb.serve(make_app())
    assert api.url.startswith("http://127.0.0.1:")
    assert api.client.get("/ping").json() == {"pong": True}
    assert '"GET /ping HTTP/1.1" 200' in api.logs()
    api.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(api.url + "/ping", timeout=2)


def test_serving_again_replaces_the_old_server_on_the_same_port():
    first = wb.serve(make_app())
    second = wb.serve(make_app())  # a re-run cell makes a new app object with the same title
    assert second.port == first.port
    assert not first.thread.is_alive()
    assert second.client.get("/ping").status_code == 200
    second.stop()


def test_keep_alive_requests_are_not_delayed_by_nagle():
    api = wb.serve(make_app())
    api.client.get("/ping")

    def one_request() -> float:
        started = time.perf_counter()
        api.client.get("/ping")
        return time.perf_counter() - started

    # With Nagle on, every keep-alive request stalls 40 ms on a delayed ACK: even the fastest
    # of ten would be slow. (The fastest, not the total: a busy machine can slow any one.)
    fastest = min(one_request() for _ in range(10))
    assert fastest < 0.03, f"the fastest of ten keep-alive requests took {fastest * 1000:.0f} ms"
    api.stop()


def test_port_in_use_names_the_port_and_the_fix():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        for process in (False, True):
            with pytest.raises(wb.WorkbookError) as error:
                wb.serve("app_snippets.ch00_setup.slow_report:app", port=port, process=process)
            assert f"Port {port}" in str(error.value)
            assert "leave out port=" in str(error.value)


def test_process_server_can_be_killed_and_restarted():
    api = wb.serve("app_snippets.ch00_setup.slow_report:app", process=True)
    assert api.client.post("/reports/background").status_code == 202
    api.kill()
    assert not api.alive()
    with pytest.raises(httpx.TransportError):
        httpx.get(api.url + "/reports/x", timeout=2)
    api.restart()
    assert api.client.get("/reports/unknown").status_code == 404
    assert "Uvicorn running" in api.logs()
    api.stop()


def test_an_app_that_does_not_import_fails_fast_with_its_traceback():
    started = time.monotonic()
    with pytest.raises(wb.WorkbookError) as error:
        wb.serve("app_snippets.no_such_module:app", process=True)
    assert time.monotonic() - started < 15
    message = str(error.value)
    assert "could not be imported" in message and "app_snippets.no_such_module" in message
    assert "Last log lines" in message


def test_an_app_from_a_cell_cannot_go_to_a_process_and_the_error_says_why():
    with pytest.raises(wb.WorkbookError) as error:
        wb.serve(make_app(), process=True)
    assert "__main__" in str(error.value) and "module" in str(error.value)


def test_logs_survive_a_learners_own_uvicorn_run(capsys):
    import asyncio

    import uvicorn

    async def inside_a_running_loop():
        uvicorn.run(make_app(), port=1)

    with warnings.catch_warnings():
        # uvicorn.run refuses to start inside a running loop and leaves its coroutines
        # (Server.serve, shutdown_asyncgens) unawaited: collect them here, or their "never
        # awaited" warnings surface in whichever later test the garbage collector runs in.
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(RuntimeError):  # what a learner sees in a kernel; here, in a loop
            asyncio.run(inside_a_running_loop())
        gc.collect()
    api = wb.serve(make_app())
    api.client.get("/ping")
    assert '"GET /ping HTTP/1.1" 200' in api.logs()
    api.stop()
    assert "GET /ping" not in capsys.readouterr().err, "log lines leaked into the output"


def test_startup_failure_in_a_thread_is_reported():
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app):
        raise RuntimeError("database unreachable")
        yield

    with pytest.raises(wb.WorkbookError) as error:
        wb.serve(FastAPI(title="broken", lifespan=lifespan))
    assert "database unreachable" in str(error.value)
