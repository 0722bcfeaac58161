"""serve(): a FastAPI (any ASGI) app on a real uvicorn server, in a thread or a child process.

In a thread, uvicorn.Server runs on its own event loop: the kernel's loop is busy, so
uvicorn.run() would fail, and nest_asyncio breaks recent uvicorn (see notebook 01). The
`process=True` form runs `python -m uvicorn module:app`, which a crash demo can SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sys
from typing import Any

import uvicorn

from . import _registry
from ._errors import WorkbookError
from ._logs import LogBuffer
from ._net import HOST, HttpHandle, PortInUse, bind, check_free, free_port, kept_port
from ._paths import import_path
from ._procs import ChildProcess, ProcessHandle
from ._threads import ThreadHandle


def _reset_uvicorn_logging() -> None:
    """Undo what a `uvicorn.run()` tried in this kernel left behind (its logging config
    prints every log line into the cells and keeps access lines from `.logs()`)."""
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            if not isinstance(handler, LogBuffer):
                logger.removeHandler(handler)
        if name != "uvicorn":
            logger.propagate = True


class ThreadServer(HttpHandle, ThreadHandle):
    """uvicorn.Server in a thread of this kernel. Stop with `.stop()`, or use `with`."""

    kind = "server"
    stop_timeout = 12.0  # then force_exit, and 5 s more

    def __init__(self, app: Any, name: str, port: int | None) -> None:
        sock = bind(port)
        super().__init__(name, sock.getsockname()[1])
        config = uvicorn.Config(
            app, log_config=None, log_level="info", timeout_graceful_shutdown=10
        )
        self.server = uvicorn.Server(config)
        _reset_uvicorn_logging()
        self._buffer = LogBuffer(("uvicorn",), accept=self._from_our_thread)
        self._run_in_thread(lambda: self._serve(sock), f"uvicorn {name}")
        self._wait_ready(
            lambda: self.server.started,
            f"The app {self.name}",
            "look at the log lines below: most often the app's startup (lifespan) code raised.",
        )

    def _from_our_thread(self, record: logging.LogRecord) -> bool:
        return self.thread is not None and record.thread == self.thread.ident

    def _serve(self, sock: socket.socket) -> None:
        # A loop of our own, not asyncio.run(): that one is broken by nest_asyncio.apply().
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self.server.serve(sockets=[sock]))
        finally:
            sock.close()
            loop.close()

    def _request_stop(self) -> None:
        self.server.should_exit = True

    def _join(self, timeout: float) -> None:
        super()._join(timeout)
        if self.running():  # requests still open after the graceful wait: cut them
            self.server.force_exit = True
            super()._join(5)


class ProcessServer(HttpHandle, ProcessHandle):
    """`python -m uvicorn module:attr` as a child process: it can be killed and restarted."""

    def __init__(self, target: str, name: str, port: int | None) -> None:
        check_free(port)  # a clear error now rather than a crashed child later
        super().__init__(name, port or free_port())
        argv = [sys.executable, "-m", "uvicorn", target, "--host", HOST,
                "--port", str(self.port), "--log-level", "info"]  # fmt: skip
        self.target = target
        self.process = ChildProcess(f"uvicorn-{self.port}", argv)
        self._start()

    def _start(self) -> None:
        self.process.start()
        self.process.wait_ready(self.accepting, self._explain)

    def _explain(self, logs: str) -> tuple[str, str]:
        if "address already in use" in logs.lower():
            error = PortInUse(self.port)
            return error.what, error.fix
        if "Error loading ASGI app" in logs or ("Error" in logs and "import" in logs.lower()):
            return (
                f'The app "{self.target}" could not be imported by the server process.',
                'pass "module:attribute" with the module importable from the repository root'
                ' (e.g. "app_snippets.ch00_setup.slow_report:app"), and check the module for'
                " errors.",
            )
        return (
            f'The server for "{self.target}" stopped before it was ready.',
            "read the log lines below for the cause.",
        )

    def terminate(self, timeout: float = 30) -> None:
        """SIGTERM: uvicorn's graceful shutdown, which lets running background tasks finish."""
        self.process.stop(timeout)


def _name_of(app: Any) -> str:
    if isinstance(app, str):
        return app
    with contextlib.suppress(WorkbookError):
        return import_path(app, "app")
    return f"{type(app).__name__} {getattr(app, 'title', '')}".strip()


def serve(
    app: Any, *, process: bool = False, port: int | None = None, name: str | None = None
) -> ThreadServer | ProcessServer:
    """Serve `app` (an ASGI app object or "module:attr") on 127.0.0.1 and wait until it answers.

    Serving the same app (same import path, or same `name=`) again replaces the old server
    and keeps its port, so re-running a cell never fails with "address already in use".
    """
    key_name = name or _name_of(app)
    key = f"server {key_name}"
    port = kept_port(_registry.get(key), HttpHandle, port)

    def start() -> ThreadServer | ProcessServer:
        if process:
            return ProcessServer(import_path(app, "app"), key_name, port)
        target = app
        if isinstance(app, str):
            target = uvicorn.importer.import_from_string(app)
        return ThreadServer(target, key_name, port)

    return _registry.replace(key, start)
