"""Shared by the exercise tests: demo pacing, a Redis, the learner's module and its app on a
real server, probes that record where and when the learner's code ran.

The checker runs these tests with the folder under test (exercises/, solutions/ or a
wrong answer's folder) first on PYTHONPATH, so the `learner` fixture's import of
ex01_move_slow_work is the file being checked.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import importlib
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
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
        self.handle = wb.serve(track_requests(app), name="exercise under test")
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


# --- instruments: where and when the learner's code ran ----------------------------------
# The checks test the mechanism, not a stopwatch: a probe wraps a function of the learner's
# module (the slow call the exercise is about) and records, for every call, the request it
# belongs to, whether that request had already been answered, and whether it ran on the
# server's event loop. Recorded events are compared; no duration decides a verdict.


@dataclass
class RequestState:
    """One HTTP request as the app saw it; `answered` turns True once its response is sent."""

    method: str
    path: str
    answered: bool = False


_REQUEST: contextvars.ContextVar[RequestState | None] = contextvars.ContextVar(
    "exercise_request", default=None
)


def track_requests(app: Any) -> Any:
    """The ASGI app, wrapped: code it runs for a request (route, dependencies, background
    tasks, FastAPI's thread pool: they inherit the request's context) can tell which request
    it serves and whether its response was already sent. A thread the code starts itself
    inherits nothing, and is seen as outside any request."""

    async def tracked(scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        state = RequestState(scope["method"], scope["path"])
        _REQUEST.set(state)

        async def sending(message: dict) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                state.answered = True

        await app(scope, receive, sending)

    return tracked


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


@dataclass
class Call:
    """One call of a probed function: where it ran, when, and what it gave."""

    args: tuple
    kwargs: dict[str, Any]
    request: RequestState | None
    answered_before: bool  # the request's response was already sent when the call began
    on_loop: bool  # it ran in the event loop's thread (the server answers no one meanwhile)
    thread: str
    started: float
    ended: float | None = None
    result: Any = None
    error: BaseException | None = None
    held_out: bool = False  # a hold (see Probe.hold) ran out before it was released
    notes: dict[str, Any] = field(default_factory=dict)

    def given(self, value: Any) -> bool:
        """Whether `value` was one of the call's arguments (by position or by name)."""
        return value in self.args or value in self.kwargs.values()


class Probe:
    """Replace `module.name` with a recording wrapper that calls the original.

    `before(call)` and `after(call)` run around the original (to sample state while it runs);
    `result(value)` may replace what the original returned (to make it unguessable).
    `hold()` makes the next calls wait, before the original, until `release()` or `limit`
    seconds: a check can then do something while the call is known to be in progress. (Not
    a call on the event loop: that one is reported as such, and holding it would only stop
    the server.)"""

    def __init__(
        self,
        monkeypatch: pytest.MonkeyPatch,
        module: Any,
        name: str,
        *,
        before: Callable[[Call], None] | None = None,
        after: Callable[[Call], None] | None = None,
        result: Callable[[Any], Any] | None = None,
    ) -> None:
        self.calls: list[Call] = []
        self.original = getattr(module, name)
        self._released = threading.Event()
        self._released.set()
        self._limit = 0.0
        self._changed = threading.Condition()
        original = self.original

        @functools.wraps(original)
        def probe(*args: Any, **kwargs: Any) -> Any:
            request = _REQUEST.get()
            call = Call(
                args=args,
                kwargs=kwargs,
                request=request,
                answered_before=bool(request and request.answered),
                on_loop=_on_event_loop(),
                thread=threading.current_thread().name,
                started=time.monotonic(),
            )
            self._add(call)
            try:
                if not call.on_loop:  # held on the loop, it would hold the whole server
                    call.held_out = not self._released.wait(self._limit)
                if before:
                    before(call)
                value = original(*args, **kwargs)
                call.result = result(value) if result else value
                if after:
                    after(call)
                return call.result
            except BaseException as error:
                call.error = error
                raise
            finally:
                call.ended = time.monotonic()
                with self._changed:
                    self._changed.notify_all()

        monkeypatch.setattr(module, name, probe)

    def _add(self, call: Call) -> None:
        with self._changed:
            self.calls.append(call)
            self._changed.notify_all()

    def hold(self, limit: float) -> None:
        self._limit = limit
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    def wait(
        self,
        condition: Callable[[list[Call]], bool],
        within: float,
        unless: Callable[[], bool] = lambda: False,
    ) -> bool:
        """Wait until `condition(calls)` holds (True), or `within` seconds pass or
        `unless()` turns True (False): e.g. the app raised, and the call will never come."""
        deadline = time.monotonic() + within
        with self._changed:
            while not condition(self.calls):
                left = deadline - time.monotonic()
                if left <= 0 or unless():
                    return False
                self._changed.wait(min(left, 0.1))
        return True

    def started(
        self, within: float, count: int = 1, unless: Callable[[], bool] = lambda: False
    ) -> list[Call]:
        """The calls, once `count` of them have started (or the wait gave up)."""
        self.wait(lambda calls: len(calls) >= count, within, unless)
        return list(self.calls)

    def ended(
        self, within: float, count: int = 1, unless: Callable[[], bool] = lambda: False
    ) -> list[Call]:
        """The calls, once `count` of them have ended (or the wait gave up)."""
        self.wait(lambda calls: sum(c.ended is not None for c in calls) >= count, within, unless)
        return list(self.calls)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[Any]:
    """A Redis for the whole run: the checker's own (it is not the notebook's)."""
    server = wb.start_redis()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def learner(request: pytest.FixtureRequest, redis_server: Any) -> ModuleType:
    """The module under test: test_exNN_name.py checks exNN_name, from the folder the checker
    put first on PYTHONPATH. Imported once this run's Redis is up, because a module that makes
    its queue's client when imported reads REDIS_URL then."""
    return importlib.import_module(Path(request.path).stem.removeprefix("test_"))


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
