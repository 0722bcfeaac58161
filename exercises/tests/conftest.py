"""Shared by the exercise tests: demo pacing, a Redis, the learner's app on a real server.

The checker runs these tests with the folder under test (exercises/, solutions/ or a
wrong answer's folder) first on PYTHONPATH, so `import ex01_move_slow_work` imports the
file being checked.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import httpx
import pytest

# Half the learner's pacing by default; never faster than a quarter, so that "answered in
# under half the slow time" still means something on a busy machine.
os.environ["DEMO_TIME_SCALE"] = str(max(float(os.environ.get("DEMO_TIME_SCALE", "0.5")), 0.25))

import workbook as wb


class Served:
    """The learner's app on a real uvicorn server; failures quote the server's log."""

    def __init__(self, app: Any) -> None:
        self.handle = wb.serve(app, name="exercise under test")
        self.url = self.handle.url
        # A new connection per request: when a background task raises, uvicorn closes the
        # connection it ran on, and a kept-alive one would fail the next request.
        self.client = httpx.Client(
            base_url=self.url, timeout=30, limits=httpx.Limits(max_keepalive_connections=0)
        )

    def log(self) -> str:
        """The server's recent log lines, for assertion messages (your tracebacks are there).

        Successful requests and library frames are left out, so that your code stands out."""
        lines = _without_library_frames(
            line for line in self.handle.logs(500).splitlines() if not _ok_access(line)
        )
        return "Server log (most recent last):\n" + ("\n".join(lines[-40:]) or "(empty)")

    def raised(self) -> bool:
        """True once the app has raised an exception (in a route or a background task)."""
        return "Exception in ASGI application" in self.handle.logs(500)

    def request(self, method: str, path: str, what: str, **kwargs: Any) -> httpx.Response:
        """Send a request; a 4xx or 5xx answer fails the test with the server's log."""
        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise AssertionError(f"{what} got no answer ({exc!r}).\n{self.log()}") from None
        if response.status_code >= 500:  # the traceback is logged just after the 500 is sent
            deadline = time.monotonic() + 2
            while not self.raised() and time.monotonic() < deadline:
                time.sleep(0.01)
        assert response.status_code < 400, (
            f"{what} answered {response.status_code} instead of a success."
            f" Your code raised an error, or the route changed: see the log.\n"
            f"{response.text[:300]}\n{self.log()}"
        )
        return response


def _ok_access(line: str) -> bool:
    return "uvicorn.access:" in line and re.search(r'HTTP/[\d.]+" [23]\d\d', line) is not None


def _without_library_frames(lines: Iterable[str]) -> list[str]:
    """Traceback lines minus the frames (and their source lines) from installed packages."""
    kept: list[str] = []
    skipping = False
    for line in lines:
        if line.startswith("  File "):
            skipping = "site-packages" in line or "/lib/python" in line
        elif not line.startswith("    "):
            skipping = False
        if not skipping:
            kept.append(line)
    return kept


@pytest.fixture(scope="session")
def redis_server() -> Iterator[Any]:
    """A Redis for the whole run: the checker's own (it is not the notebook's)."""
    server = wb.start_redis()
    yield server
    server.stop()


@pytest.fixture
def serve() -> Iterator[Callable[[Any], Served]]:
    """`serve(app)` runs the app on 127.0.0.1 for this test and stops it afterwards."""
    started: list[Served] = []

    def start(app: Any) -> Served:
        served = Served(app)
        started.append(served)
        return served

    yield start
    for served in started:
        served.client.close()
        served.handle.stop()


class DramatiqWorker:
    """A Dramatiq worker in threads of the test process; failures quote its log."""

    def __init__(self, broker: Any, threads: int) -> None:
        self.handle = wb.dramatiq_worker(broker, threads=threads)

    def raw_log(self) -> str:
        return self.handle.logs(500)

    def log(self) -> str:
        """The worker's recent log lines, library frames left out (your tracebacks stay)."""
        lines = _without_library_frames(self.raw_log().splitlines())
        return "Worker log (most recent last):\n" + ("\n".join(lines[-40:]) or "(empty)")


@pytest.fixture
def dramatiq_worker(redis_server) -> Iterator[Callable[..., DramatiqWorker]]:
    """`dramatiq_worker(broker)` runs a real Dramatiq worker (threads) for this test."""
    started: list[DramatiqWorker] = []

    def start(broker: Any, threads: int = 2) -> DramatiqWorker:
        worker = DramatiqWorker(broker, threads)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.handle.stop()
