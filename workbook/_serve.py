"""serve(): a FastAPI (any ASGI) app on a real uvicorn server, in a thread or a child process.

In a thread, uvicorn.Server runs on its own event loop: the kernel's loop is busy, so
uvicorn.run() would fail, and nest_asyncio breaks recent uvicorn (see notebook 01). The
`process=True` form runs `python -m uvicorn module:app`, which a crash demo can SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import sys
import threading
import time
from typing import Any

import httpx
import uvicorn

from . import _registry
from ._errors import WorkbookError
from ._logs import LogBuffer
from ._paths import import_path
from ._procs import ChildProcess, ProcessHandle
from ._redis import free_port

HOST = "127.0.0.1"


def _bind(port: int | None) -> socket.socket:
    # proto=IPPROTO_TCP matters: asyncio turns Nagle off only on sockets that say TCP, and
    # without that every keep-alive response waits 40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port or 0))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise _port_in_use(port or 0) from None
        raise
    return sock


def _port_in_use(port: int) -> WorkbookError:
    return WorkbookError(
        f"Port {port} on {HOST} is already in use by another program.",
        f"leave out port= to let the workbook pick a free port, or stop what holds it"
        f" (`lsof -i :{port}` shows it; wb.stop_all() stops what this kernel started).",
    )


class _Served:
    """What both kinds of server share: the URL, an httpx client, and log lines."""

    kind = "server"

    def __init__(self, name: str, port: int) -> None:
        self.name, self.port = name, port
        self.url = f"http://{HOST}:{port}"
        # trust_env=False: a proxy set in the environment must not swallow loopback calls.
        self.client = httpx.Client(base_url=self.url, timeout=30, trust_env=False)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} at {self.url}>"


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


class ThreadServer(_Served):
    """uvicorn.Server in a thread of this kernel. Stop with `.stop()`."""

    def __init__(self, app: Any, name: str, port: int | None) -> None:
        sock = _bind(port)
        super().__init__(name, sock.getsockname()[1])
        config = uvicorn.Config(
            app, log_config=None, log_level="info", timeout_graceful_shutdown=10
        )
        self.server = uvicorn.Server(config)
        self.error: BaseException | None = None
        self.thread = threading.Thread(
            target=self._run, args=(sock,), name=f"uvicorn {name}", daemon=True
        )
        _reset_uvicorn_logging()
        self._buffer = LogBuffer(
            ("uvicorn",), accept=lambda record: record.thread == self.thread.ident
        )
        self.thread.start()
        self._wait_started()

    def _run(self, sock: socket.socket) -> None:
        # A loop of our own, not asyncio.run(): that one is broken by nest_asyncio.apply().
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self.server.serve(sockets=[sock]))
        except BaseException as exc:
            self.error = exc
        finally:
            sock.close()
            loop.close()

    def _wait_started(self) -> None:
        deadline = time.monotonic() + 10
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise WorkbookError(
                    f"The app {self.name} did not start"
                    + (f": {self.error!r}" if self.error else "."),
                    "look at the log lines below: most often the app's startup (lifespan)"
                    " code raised.",
                    self._buffer.text(),
                )
            time.sleep(0.01)

    def logs(self, lines: int = 40) -> str:
        return self._buffer.text(lines)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(12)
        if self.thread.is_alive():
            self.server.force_exit = True
            self.thread.join(5)
        self.client.close()
        self._buffer.detach()
        _registry.forget(self)


class ProcessServer(_Served, ProcessHandle):
    """`python -m uvicorn module:attr` as a child process: it can be killed and restarted."""

    def __init__(self, target: str, name: str, port: int | None) -> None:
        if port is not None:
            _bind(port).close()  # a clear error now rather than a crashed child later
        super().__init__(name, port or free_port())
        argv = [sys.executable, "-m", "uvicorn", target, "--host", HOST,
                "--port", str(self.port), "--log-level", "info"]  # fmt: skip
        self.target = target
        self.process = ChildProcess(f"uvicorn-{self.port}", argv)
        self._start()

    def _start(self) -> None:
        self.process.start()
        self.process.wait_ready(self._accepting, self._explain)

    def _accepting(self) -> bool:
        with socket.create_connection((HOST, self.port), timeout=0.2):
            return True

    def _explain(self, logs: str) -> tuple[str, str]:
        if "address already in use" in logs.lower():
            error = _port_in_use(self.port)
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

    def stop(self) -> None:
        self.process.stop()
        self.client.close()
        _registry.forget(self)


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
    old = _registry.get(key)
    if port is None and isinstance(old, _Served):
        port = old.port

    def start() -> ThreadServer | ProcessServer:
        if process:
            return ProcessServer(import_path(app, "app"), key_name, port)
        target = app
        if isinstance(app, str):
            target = uvicorn.importer.import_from_string(app)
        return ThreadServer(target, key_name, port)

    return _registry.replace(key, start)
