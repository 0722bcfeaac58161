"""One test process for one check: its environment, its supervisor (a fresh process, or one
forked by the warm check server), its output within limits, and its signed record.

Whatever the learner's code does (loops, exits, floods the output, starts processes), the run
ends within the exercise's time limit and leaves no process behind; the kernel that asked is
never at risk. What the run left is for `judge` to put in words.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import os
import secrets
import selectors
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._errors import WorkbookError
from .._paths import ROOT, child_env
from . import check_server, shared_server
from .files import label
from .model import Meta
from .plugin import KEY_FD_ENV, RESULTS_ENV
from .progress import restore_tests

OUTPUT_LIMIT = 1_000_000  # bytes of test output read; more is a flood, and the check stops it
RECORD_LIMIT = 10_000_000  # bytes: the plugin's record is small; a bigger file is not its
RUN_ENV = "WORKBOOK_CHECK_RUN"  # inherited by every process of one check, to find them all


@dataclass
class Run:
    """What one pytest process left: its exit, its output, and its verified record."""

    returncode: int | None
    output: bytes
    timed_out: bool
    flooded: bool
    record: dict[str, Any] | None
    forged: bool
    current_test: str
    strays: list[str]
    lingered: bool = False  # the tests had finished, but the process did not end
    warm: bool = False  # forked by the warm check server

    @property
    def all_passed(self) -> bool:
        """Every collected test passed, and pytest's exit status says so too."""
        items, outcomes = outcomes_of(self.record)
        passed = bool(items) and all(outcomes.get(i) == "passed" for i in items)
        return passed and (self.record or {}).get("exitstatus") == 0


# CPython 3.11's ast.parse is not thread-safe (python/cpython#106905, pytest#10763): pytest
# reporting a failure while a server or worker thread formats a traceback can end in this.
# PYTHONNODEBUGRANGES (in _environment) removes the tracebacks' part; a check hit anyway runs
# again, once.
_INTERPRETER_BUG = "AST constructor recursion depth mismatch"


def hit_interpreter_bug(run: Run) -> bool:
    reported = json.dumps(run.record or {}) + run.output.decode(errors="replace")
    return _INTERPRETER_BUG in reported


def _server_environment() -> dict[str, str]:
    """What every check's process shares: the base of _environment. The warm server starts
    with it, so that the flags Python reads only at start-up are those of a check."""
    env = child_env()
    for name in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS"):  # the learner's shell must not steer it
        env.pop(name, None)
    if env.get("REDIS_URL") and env.get("REDIS_URL") == env.get("WORKBOOK_REDIS_URL"):
        # The kernel's own Redis: its workers (running older code) would steal the check's
        # tasks. The tests start a private one. A Redis the user named is kept.
        env.pop("REDIS_URL")
        env.pop("WORKBOOK_REDIS_URL")
    env.update(
        PYTHONDONTWRITEBYTECODE="1",
        # No column ranges in tracebacks: then Python 3.11 does not ast.parse each traceback
        # line, in a thread that may race pytest's own ast.parse (see _INTERPRETER_BUG).
        PYTHONNODEBUGRANGES="1",
    )
    return env


def _environment(meta: Meta, tree: Path, token: str, key_fd: int, results: Path) -> dict[str, str]:
    env = _server_environment()
    inherited = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    env["PYTHONPATH"] = os.pathsep.join(
        dict.fromkeys(filter(None, [str(tree), str(ROOT), *inherited]))
    )
    env.update(
        WORKBOOK_EXERCISE_ID=meta.id,
        WORKBOOK_EXERCISE_TREE=str(tree),
        WORKBOOK_EXERCISE_FILE=str(tree / Path(meta.file).name),
        WORKBOOK_EXERCISE_MODULE=meta.module,
        **{RUN_ENV: token, KEY_FD_ENV: str(key_fd), RESULTS_ENV: str(results)},
    )
    return env


def _argv(meta: Meta, tests: Path) -> list[str]:
    # The repository's pytest settings (testpaths, timeout, addopts) are for its own tests:
    # an empty config (-c devnull) instead, the run's folder as the root for node ids, and
    # only the copied conftest.py (see _copy_tests). -s: output comes to us, to be counted.
    return [
        sys.executable, "-m", "pytest", str(tests),
        "-p", "workbook._exercises.plugin", "-p", "no:cacheprovider",
        "-c", os.devnull, "--rootdir", str(tests.parent.parent),
        "--confcutdir", str(tests.parent.parent),
        "-x", "-q", "-s", "--tb=short", "--color=no", "--no-header",
    ]  # fmt: skip


def run_tests(meta: Meta, tree: Path, warm: bool = False, shared: bool = False) -> Run:
    """One test process for `meta`'s tests on `tree`: fresh, or (warm) forked by this
    process's warm server, or (warm and shared) by the shell's shared server."""
    key, token = secrets.token_bytes(32), secrets.token_hex(8)
    workdir = Path(tempfile.mkdtemp(prefix="workbook-check-"))
    results = workdir / "results.json"
    try:
        tests = _copy_tests(meta, workdir)
        env = _environment(meta, tree, token, -1, results)
        env["TMPDIR"] = str(workdir / "tmp")  # what the code leaves in temp goes with the run
        (workdir / "tmp").mkdir(mode=0o700)
        argv = _argv(meta, tests)
        with _Supervised(argv, env, key, meta.timeout, workdir, warm, shared) as run:
            output, timed_out, flooded, lingered = _read(run.proc, meta.timeout, results)
        report, warm = run.report, run.warm
        record, forged = _verified(results, key)
        current = ""
        with contextlib.suppress(OSError), open(f"{results}.current", "rb") as file:
            current = file.read(300).decode(errors="replace")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return Run(
        report.get("returncode"),
        output,
        timed_out and not lingered,
        flooded,
        record,
        forged,
        current,
        list(report.get("strays", [])),
        lingered,
        warm,
    )


def _warm_server(shared: bool) -> check_server.Client | None:
    if shared:
        return shared_server.get(_server_environment())
    return check_server.get(_server_environment())


def _copy_tests(meta: Meta, workdir: Path) -> Path:
    """The exercise's test file, its conftest.py and the shared helper modules beside them
    (every .py that is not a test file), copied for this run only: learner code that deletes
    or edits them (or leaves a __pycache__ beside them) cannot break later checks."""
    source = meta.tests_path
    # Deleted (by hand, or by learner code in an earlier check): git has them. Only what is
    # missing comes back: a changed test may be an author's work in progress.
    restore_tests(meta, changed=False)
    if not source.is_file():
        raise WorkbookError(
            f"The tests of {meta.id} ({label(source)}) are missing: they are part of the"
            " workbook, not yours to edit, and something deleted them.",
            f"restore them with `workbook reset {meta.id}` (in a notebook:"
            f' wb.exercise("{meta.id}").reset()); it keeps a copy of your own file.',
        )
    folder = workdir / "tests"
    folder.mkdir()
    shutil.copy2(source, folder / source.name)
    for helper in source.parent.glob("*.py"):
        if not helper.name.startswith("test_"):
            shutil.copy2(helper, folder / helper.name)
    return folder / source.name


# Run as a script in isolated mode (-I): `-m workbook._exercises.supervise` would import the whole
# workbook package (Celery, RQ, ...: seconds on a busy machine) before the tests start.
SUPERVISOR = str(Path(__file__).with_name("supervise.py"))


class _Supervised:
    """The test process under workbook._exercises.supervise: a process of its own that kills every
    process the check started (however it hid) when the tests end, at the time limit, or
    when this process dies, and reports the exit code and what was left running."""

    GRACE = 10.0  # the supervisor's own deadline: after ours, in case we are frozen

    def __init__(self, argv: list[str], env: dict[str, str], key: bytes, timeout: float,
                 workdir: Path, warm: bool = False, shared: bool = False) -> None:  # fmt: skip
        key_read, key_write = os.pipe()
        os.write(key_write, key)
        os.close(key_write)
        env[KEY_FD_ENV] = str(key_read)
        self.report: dict[str, Any] = {}
        self.warm = False
        try:
            server = _warm_server(shared) if warm else None
            if server is not None:
                try:
                    self.proc = server.start(argv[3:], env, timeout + self.GRACE, workdir, key_read)
                    self._report_fd = self.proc.report_fd
                    self.warm = True
                    return
                except OSError:  # the server died: a fresh process, and a new server next time
                    if not shared:
                        check_server.discard(server)
                finally:
                    if shared:  # our connection only: the shared server stays
                        server.stop()
            self._popen(argv, env, timeout, workdir, key_read)
        finally:
            os.close(key_read)

    def _popen(self, argv: list[str], env: dict[str, str], timeout: float, workdir: Path,
               key_read: int) -> None:  # fmt: skip
        report_read, report_write = os.pipe()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", SUPERVISOR, str(timeout + self.GRACE),
                 str(workdir), str(report_write), str(key_read), "--", *argv],
                cwd=ROOT,
                env=env,
                stdin=subprocess.PIPE,  # closed (even by our death): kill everything now
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C or a kill of our group does not reach it
                pass_fds=(key_read, report_write),
            )  # fmt: skip
        finally:
            os.close(report_write)
        self._report_fd = report_read

    def __enter__(self) -> _Supervised:
        return self

    def __exit__(self, *exc: object) -> None:
        """Tell the supervisor to end the run (if it has not), and read its report."""
        with contextlib.suppress(OSError):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:  # it should never hang; if it does, end it
            self.proc.kill()
            self.proc.wait()
        with os.fdopen(self._report_fd, "rb") as report:
            data = report.read(RECORD_LIMIT)
        with contextlib.suppress(ValueError):
            self.report = json.loads(data or b"{}")
        if self.proc.stdout is not None:
            self.proc.stdout.close()


# Seconds a test process may take to exit after its tests have all run: its clean-up stops
# workers, each given 10 s to finish (workbook._procs).
LINGER = 15.0


def _read(proc: subprocess.Popen, timeout: float, results: Path) -> tuple[bytes, bool, bool, bool]:
    """Read output until the process ends, the time limit passes, or the output floods.

    (output, timed out, flooded, lingered): lingered when the tests had finished (their
    record was written) but the process did not end within LINGER seconds, or the limit."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    output, exited_at, eof, finished_at = bytearray(), None, False, None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while True:
            now = time.monotonic()
            if finished_at is None and results.exists():
                finished_at = now
            if now >= deadline:
                return bytes(output), True, False, finished_at is not None
            if finished_at is not None and now - finished_at > LINGER and proc.poll() is None:
                return bytes(output), False, False, True
            if proc.poll() is not None:
                exited_at = now if exited_at is None else exited_at
                if eof or now - exited_at > 0.5:
                    break  # done; or a stray child still holds the pipe open
            if eof:  # the code closed its output, and runs on
                time.sleep(0.05)
            elif selector.select(min(deadline - now, 0.2)):
                chunk = os.read(proc.stdout.fileno(), 65536)
                eof = not chunk
                output += chunk
                if len(output) > OUTPUT_LIMIT:
                    return bytes(output[:OUTPUT_LIMIT]), False, True, False
    return bytes(output), False, False, False


def _verified(path: Path, key: bytes) -> tuple[dict[str, Any] | None, bool]:
    """(record, forged): the plugin's record if its signature holds."""
    try:
        if path.stat().st_size > RECORD_LIMIT:
            return None, True
        outer = json.loads(path.read_text(encoding="utf-8"))
        body = outer["record"].encode()
        mac = outer["mac"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None, path.exists()
    expected = hmac.new(key, body, "sha256").hexdigest()
    if not isinstance(mac, str) or not hmac.compare_digest(mac, expected):
        return None, True
    return json.loads(body), False


def outcomes_of(record: dict[str, Any] | None) -> tuple[list[str], dict[str, str]]:
    """(the collected tests, each one's outcome) from a run's record."""
    if not record:
        return [], {}
    return list(record.get("items", [])), dict(record.get("outcomes", {}))
