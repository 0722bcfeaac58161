"""Run one exercise's tests against a tree of files, in a fresh process, and give a verdict.

Three verdicts (learntools): "not attempted" (the stub still raises NotImplementedError("exNN:
...")), "incorrect" (one sentence on what is wrong), "correct" (only on a signed record that
every collected test passed: see _checker_plugin). Whatever the learner's code does (loops,
exits, floods the output, starts processes), the check ends within the exercise's time limit
and leaves no process behind; the kernel that asked is never at risk.
"""

from __future__ import annotations

import contextlib
import enum
import hmac
import html
import json
import os
import re
import secrets
import selectors
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import _check_server
from ._checker_plugin import KEY_FD_ENV, RESULTS_ENV
from ._errors import WorkbookError
from ._exercises import Meta, get, record_verdict, restore_tests
from ._paths import ROOT, child_env
from ._quick import compile_failure, untouched

OUTPUT_LIMIT = 1_000_000  # bytes of test output read; more is a flood, and the check stops it
RECORD_LIMIT = 10_000_000  # bytes: the plugin's record is small; a bigger file is not its
RUN_ENV = "WORKBOOK_CHECK_RUN"  # inherited by every process of one check, to find them all


class Verdict(str, enum.Enum):
    NOT_ATTEMPTED = "not attempted"
    INCORRECT = "incorrect"
    CORRECT = "correct"

    def __str__(self) -> str:
        return self.value

    @property
    def exit_code(self) -> int:
        """The CLI's exit code: correct 0, incorrect 1, not attempted 3."""
        return {"correct": 0, "incorrect": 1, "not attempted": 3}[self.value]


_STYLE = {
    Verdict.CORRECT: ("✔", "#1a7f37"),
    Verdict.INCORRECT: ("✘", "#cf222e"),
    Verdict.NOT_ATTEMPTED: ("○", "#6e7781"),
}


@dataclass
class CheckResult:
    """A verdict with the sentence that explains it; renders in Jupyter and in a terminal."""

    id: str
    verdict: Verdict
    message: str
    details: str = ""
    duration: float = 0.0
    passed: int = 0
    collected: int = 0
    title: str = ""
    tree: str = ""
    failed: int = 0  # ran and did not pass; with passed, the tests that ran
    file: str = ""  # the file checked, relative to the repository root
    tests_time: float = 0.0  # seconds inside the tests themselves; the rest is the checker's
    warm: bool = False  # the tests ran in a process forked by the warm check server
    hint_how: str = field(default="", repr=False)

    @property
    def exit_code(self) -> int:
        return self.verdict.exit_code

    @property
    def correct(self) -> bool:
        return self.verdict is Verdict.CORRECT

    @property
    def tally(self) -> str:
        """What the tests did, counting only those that ran: pytest stops at the first
        failure, so the rest did not run (which says nothing about them)."""
        if not self.collected:
            return ""
        not_run = self.collected - self.passed - self.failed
        parts = [f"{self.passed} passed"]
        if self.failed or not self.correct:
            parts.append(f"{self.failed} failed")
        if not_run:
            why = " (the check stops at the first failure)" if self.failed else ""
            parts.append(f"{not_run} not run{why}")
        return ", ".join(parts)

    def _footer(self) -> str:
        # A correct verdict's sentence already counts the tests: no second count here.
        tests = "" if self.correct else self.tally
        checked = f"checked {self.file or self.tree}" if (self.file or self.tree) else ""
        return "; ".join(p for p in (tests, f"{self.duration:.1f} s", checked) if p)

    def __str__(self) -> str:
        mark, _ = _STYLE[self.verdict]
        lines = [f"{mark} {self.id} {self.verdict}: {self.message}"]
        lines += ["    " + line for line in self.details.splitlines()]
        lines.append(f"  ({self._footer()})")
        if not self.correct:
            lines.append(f"  Stuck? A hint: workbook hint {self.id}")
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        mark, colour = _STYLE[self.verdict]
        title = f" · {html.escape(self.title)}" if self.title else ""
        body = [
            f"<div style='font-weight:bold;color:{colour}'>{mark} {self.id}{title}: "
            f"{self.verdict}</div>",
            f"<div style='margin:4px 0'>{html.escape(self.message)}</div>",
        ]
        if self.details:
            body.append(
                "<pre style='font-size:85%;background:#f6f8fa;padding:6px;margin:4px 0'>"
                f"{html.escape(self.details)}</pre>"
            )
        footer = html.escape(self._footer())
        if not self.correct:
            footer += f' · stuck? <code>wb.exercise("{self.id}").hint()</code>'
        body.append(f"<div style='font-size:85%;color:#666'>{footer}</div>")
        return (
            f"<div style='border-left:5px solid {colour};padding:6px 10px;margin:4px 0'>"
            f"{''.join(body)}</div>"
        )


@dataclass
class _Run:
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


# CPython 3.11's ast.parse is not thread-safe (python/cpython#106905, pytest#10763): pytest
# reporting a failure while a server or worker thread formats a traceback can end in this.
# PYTHONNODEBUGRANGES (in _environment) removes the tracebacks' part; a check hit anyway runs
# again, once.
_INTERPRETER_BUG = "AST constructor recursion depth mismatch"


def _hit_interpreter_bug(run: _Run) -> bool:
    reported = json.dumps(run.record or {}) + run.output.decode(errors="replace")
    return _INTERPRETER_BUG in reported


def check(
    exercise_id: str | int,
    tree: str | Path | None = None,
    *,
    metadata: str | Path | None = None,
    quick: bool = False,
    warm: bool | None = None,
) -> CheckResult:
    """Run `exercise_id`'s tests on the module in `tree` and return the verdict.

    `tree` is the folder holding the module under test: by default the learner's (exercises/);
    solutions/ for the solution; any folder for the tests of wrong answers. A relative `tree`
    is relative to the repository root, like every path in exercises.toml. Only checks of
    the learner's own folder are recorded in the progress file.

    `quick` (what the notebook handle and the CLI ask for): answer at once, without a test
    process, when the learner's file is the untouched stub or does not compile. The dev
    check leaves it off: it proves, through the tests, the verdicts the shortcuts give.
    `warm` (by default as `quick`): run the tests in a process forked by this process's warm
    check server (workbook._check_server), which pays off from the second check on.
    """
    meta = get(exercise_id, metadata)
    own = meta.file_path.parent.resolve()
    folder = own if tree is None else (ROOT / tree).resolve()
    if not folder.is_dir():
        raise WorkbookError(
            f"Cannot check {meta.id} in {folder}: no such folder.",
            "pass the folder that holds the module under test, such as solutions/.",
        )
    started = time.monotonic()
    answer = _quick_verdict(meta, folder, own) if quick else None
    run = None
    if answer is None:
        forked = _check_server.enabled(quick if warm is None else warm)
        run = _run(meta, folder, forked)
        if _hit_interpreter_bug(run):  # Python's fault, not the learner's: once more
            run = _run(meta, folder, forked)
        verdict, message, details = _lingered(meta, run) or _judge(meta, folder, run)
        details = _with_leftovers(details, run)
    else:
        verdict, message, details = answer
    record = run.record if run is not None else None
    items, outcomes = _tally(record)
    result = CheckResult(
        id=meta.id,
        verdict=verdict,
        message=message,
        details=details,
        duration=time.monotonic() - started,
        passed=sum(outcomes.get(i) == "passed" for i in items),
        collected=len(items),
        title=meta.title,
        tree=_label(folder),
        failed=sum(outcomes.get(i, "passed") != "passed" for i in items),
        file=_label(folder / Path(meta.file).name),
        tests_time=float((record or {}).get("tests_time", 0.0)),
        warm=run is not None and run.warm,
    )
    if folder == own:
        record_verdict(meta.id, verdict.value)
    return result


def _quick_verdict(meta: Meta, folder: Path, own: Path) -> tuple[Verdict, str, str] | None:
    """The verdict the tests would give, when it is known without them (see _quick)."""
    path = folder / Path(meta.file).name
    failure = compile_failure(path)
    if failure is not None:
        stub = _stub_message(meta.id, [failure["learner"]])  # as _judge reads it
        if stub is None:
            return Verdict.INCORRECT, *_explain(meta, folder, failure)
    if folder != own:  # a wrong answer may keep a stub's raise: its tests decide
        return None
    original = untouched(path)
    stub = _stub_message(meta.id, [original]) if original is not None else None
    return None if stub is None else _not_attempted(meta, folder, stub)


def _not_attempted(meta: Meta, tree: Path, stub: str) -> tuple[Verdict, str, str]:
    where = _label(tree / Path(meta.file).name)
    return (
        Verdict.NOT_ATTEMPTED,
        f"{where} still raises NotImplementedError({stub!r}): write your code where it says"
        f" TODO({meta.id}).",
        "",
    )


def _label(path: Path | str) -> str:
    """A path relative to the repository root when it is inside it."""
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


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
        "-p", "workbook._checker_plugin", "-p", "no:cacheprovider",
        "-c", os.devnull, "--rootdir", str(tests.parent.parent),
        "--confcutdir", str(tests.parent.parent),
        "-x", "-q", "-s", "--tb=short", "--color=no", "--no-header",
    ]  # fmt: skip


def _run(meta: Meta, tree: Path, warm: bool = False) -> _Run:
    key, token = secrets.token_bytes(32), secrets.token_hex(8)
    workdir = Path(tempfile.mkdtemp(prefix="workbook-check-"))
    results = workdir / "results.json"
    try:
        tests = _copy_tests(meta, workdir)
        env = _environment(meta, tree, token, -1, results)
        env["TMPDIR"] = str(workdir / "tmp")  # what the code leaves in temp goes with the run
        (workdir / "tmp").mkdir(mode=0o700)
        with _Supervised(_argv(meta, tests), env, key, meta.timeout, workdir, warm) as run:
            output, timed_out, flooded, lingered = _read(run.proc, meta.timeout, results)
        report, warm = run.report, run.warm
        record, forged = _verified(results, key)
        current = ""
        with contextlib.suppress(OSError), open(f"{results}.current", "rb") as file:
            current = file.read(300).decode(errors="replace")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return _Run(
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
            f"The tests of {meta.id} ({_label(source)}) are missing: they are part of the"
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


# Run as a script in isolated mode (-I): `-m workbook._supervise` would import the whole
# workbook package (Celery, RQ, ...: seconds on a busy machine) before the tests start.
SUPERVISOR = str(Path(__file__).with_name("_supervise.py"))


class _Supervised:
    """The test process under workbook._supervise: a process of its own that kills every
    process the check started (however it hid) when the tests end, at the time limit, or
    when this process dies, and reports the exit code and what was left running."""

    GRACE = 10.0  # the supervisor's own deadline: after ours, in case we are frozen

    def __init__(self, argv: list[str], env: dict[str, str], key: bytes, timeout: float,
                 workdir: Path, warm: bool = False) -> None:  # fmt: skip
        key_read, key_write = os.pipe()
        os.write(key_write, key)
        os.close(key_write)
        env[KEY_FD_ENV] = str(key_read)
        self.report: dict[str, Any] = {}
        self.warm = False
        try:
            server = _check_server.get(_server_environment()) if warm else None
            if server is not None:
                try:
                    self.proc = server.start(argv[3:], env, timeout + self.GRACE, workdir, key_read)
                    self._report_fd = self.proc.report_fd
                    self.warm = True
                    return
                except OSError:  # the server died: a fresh process, and a new server next time
                    _check_server.discard(server)
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


def _tally(record: dict[str, Any] | None) -> tuple[list[str], dict[str, str]]:
    if not record:
        return [], {}
    return list(record.get("items", [])), dict(record.get("outcomes", {}))


# --- the verdict --------------------------------------------------------------------------


def _judge(meta: Meta, tree: Path, run: _Run) -> tuple[Verdict, str, str]:
    items, outcomes = _tally(run.record)
    record = run.record or {}
    all_passed = bool(items) and all(outcomes.get(i) == "passed" for i in items)
    ended = run.returncode == 0 or run.lingered  # lingered: stopped after the tests ended
    finished = not (run.timed_out or run.flooded) and ended
    if record and finished and all_passed and record.get("exitstatus") == 0:
        module_file = record.get("module_file")
        expected = tree / Path(meta.file).name
        if module_file and Path(module_file).resolve() != expected.resolve():
            return (
                Verdict.INCORRECT,
                f"The tests imported {meta.module} from {_label(module_file)}, not from"
                f" {_label(tree)}, so they did not test your file.",
                "",
            )
        if run.strays:
            return (
                Verdict.INCORRECT,
                f"The tests passed, but your code left {_plural(len(run.strays), 'process')}"
                " running after they ended; the check stopped them. Stop what you start (wait"
                " for it, or terminate it).",
                "\n".join(run.strays),
            )
        return (
            Verdict.CORRECT,
            "The test passed." if len(items) == 1 else f"All {len(items)} tests passed.",
            "",
        )
    failures = record.get("failures", [])
    texts = [f.get(k) or "" for f in failures for k in ("message", "text")]
    stub = _stub_message(meta.id, [*texts, run.output.decode(errors="replace")])
    if stub is not None:
        return _not_attempted(meta, tree, stub)
    return Verdict.INCORRECT, *_explain_failure(meta, tree, run, items, outcomes)


def _lingered(meta: Meta, run: _Run) -> tuple[Verdict, str, str] | None:
    """Every test passed, but the process did not end: say so, not "did not finish"."""
    items, outcomes = _tally(run.record)
    record = run.record or {}
    passed = bool(items) and all(outcomes.get(i) == "passed" for i in items)
    if not (run.lingered and passed and record.get("exitstatus") == 0):
        return None
    threads = [str(name) for name in record.get("threads", [])]
    if not threads:  # not a thread of the code (slow clean-up, say): judge the record
        return None
    which = f" (still running: {', '.join(repr(t) for t in threads[:5])})"
    return (
        Verdict.INCORRECT,
        f"The tests passed, but your code kept the test process from ending{which}, so the"
        " check stopped it. Stop what you start: end your thread (signal it and join it), or"
        " make it a daemon thread.",
        "",
    )


def _with_leftovers(details: str, run: _Run) -> str:
    """Name what the code left running (the check has stopped it), whatever the verdict."""
    if not run.strays or "\n".join(run.strays) in details:
        return details
    listed = "Left running by your code (the check stopped it):\n" + "\n".join(run.strays)
    return f"{details}\n{listed}" if details else listed


def _stub_message(exercise_id: str, texts: list[str]) -> str | None:
    """The stub's message when a failure shows NotImplementedError("exNN: ...")."""
    pattern = re.compile(rf"NotImplementedError(?::\s*|\(\s*['\"])({exercise_id}:[^\n'\"]*)")
    for text in texts:
        match = pattern.search(text)
        if match:
            return match.group(1).strip()
    return None


def _explain_failure(
    meta: Meta, tree: Path, run: _Run, items: list[str], outcomes: dict[str, str]
) -> tuple[str, str]:
    tail = _tail(run.output.decode(errors="replace"))
    if run.timed_out:
        where = f"during {_test_name(run.current_test)}" if run.current_test else "while loading"
        return (
            f"The check did not finish within {meta.timeout:g} s (the time limit of {meta.id}),"
            f" so it was stopped {where}. Look for an endless loop, or a wait with no time-out.",
            "",
        )
    if run.flooded:
        return (
            f"Your code printed more than {OUTPUT_LIMIT // 1_000_000} MB of output, so the check"
            " stopped it. Look for a print() in a loop.",
            "",
        )
    if run.forged:
        return (
            "The test results could not be verified: the results file was changed after the"
            " tests wrote it, so this cannot count. Does your code write to files it does not"
            " own?",
            "",
        )
    record = run.record
    if record is None:
        return (
            f"The tests stopped before reporting results (the test process exited with code"
            f" {run.returncode}). Does your code call sys.exit() or os._exit(), or end its own"
            " process?",
            tail,
        )
    failures = record.get("failures", [])
    failed = [f for f in failures if f.get("outcome") == "failed"]
    if failed:
        return _explain(meta, tree, failed[0])
    if not items:
        skipped = next((f.get("text", "") for f in failures if f.get("outcome") == "skipped"), "")
        if skipped:
            reason = re.search(r"Skipped: ([^'\"]*)", skipped)
            because = f" ({reason.group(1).strip()})" if reason else ""
            return f"The tests were skipped{because}; a skipped test shows nothing works.", ""
        return f"No tests were found in {meta.tests}, so nothing shows your code works.", tail
    for item in items:
        outcome = outcomes.get(item, "not run")
        if outcome != "passed":
            reason = next((f.get("text", "") for f in failures if f["nodeid"] == item), "")
            return (
                f"{_test_name(item)} was {outcome}, so the exercise cannot count as correct.",
                reason,
            )
    return f"The test run failed (pytest exit status {record.get('exitstatus')}).", tail


def _explain(meta: Meta, tree: Path, failure: dict[str, Any]) -> tuple[str, str]:
    """One sentence for one failure; the learner's own frames as details when they crashed."""
    kind, message = failure.get("type") or "", failure.get("message") or ""
    name, learner = failure.get("name"), _relative_paths(failure.get("learner") or "")
    first = message.strip().splitlines()[0] if message.strip() else ""
    test = _test_name(failure["nodeid"]) if failure.get("when") != "collect" else ""
    during = f"during {test}" if test else "while being imported"
    if kind == "SystemExit":
        return (
            f"Your code called sys.exit({failure.get('code')}) {during}: a module or function"
            " must not end the process. Return a value or raise an exception instead.",
            learner,
        )
    if kind in ("SyntaxError", "IndentationError", "TabError") and learner:
        line = re.search(r"line (\d+)", learner)
        at = f" at line {line.group(1)}" if line else ""
        return f"Your file has a syntax error{at}: {first.split(' (')[0]}.", learner
    if kind == "ModuleNotFoundError" and name == meta.module:
        return (
            f"There is no {Path(meta.file).name} in {_label(tree)}, where the tests import it"
            f" from. Restore it with `workbook reset {meta.id}`.",
            "",
        )
    if kind == "ModuleNotFoundError" and learner:
        return f"Your file imports {name!r}, which is not installed here.", learner
    missing = re.search(r"cannot import name '(\w+)'", message) if name == meta.module else None
    missing = missing or re.search(rf"module '{meta.module}' has no attribute '(\w+)'", message)
    if missing:
        return (
            f"Your file has no {missing.group(1)!r}, which the tests use. Did you rename or"
            " delete it? Keep the names the stub gave you.",
            "",
        )
    if learner:
        return (
            f"Your code raised {kind}: {first}" if first else f"Your code raised {kind}.",
            learner,
        )
    if kind == "AssertionError" and message and not message.startswith("assert "):
        sentence = message.split("\nassert ")[0].strip()
        head, _, rest = sentence.partition("\n")
        return _short(head), _tail(rest)
    text = failure.get("text") or ""
    if kind:
        return _short(f"{test or 'Loading the tests'} failed with {kind}: {first}"), _tail(text)
    return _short(f"{test or 'Loading the tests'} failed."), _tail(text)


def _plural(count: int, noun: str) -> str:
    return (
        f"{count} {noun}"
        if count == 1
        else f"{count} {noun}es"
        if noun.endswith("s")
        else f"{count} {noun}s"
    )


def _test_name(nodeid: str) -> str:
    return nodeid.rpartition("::")[2] or nodeid


def _short(text: str, limit: int = 500) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _tail(text: str, lines: int = 25) -> str:
    kept = [line[:300] for line in text.strip().splitlines()[-lines:]]
    return "\n".join(kept)


def _relative_paths(text: str) -> str:
    return text.replace(f"{ROOT}{os.sep}", "")
