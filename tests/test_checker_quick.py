"""The learner's fast paths keep every guarantee of a fresh check (issue 12).

Quick verdicts (no test process at all): the untouched stub reads "not attempted", a file
that does not compile reads the same sentence the tests give. The warm check server (a
process forked per check from a pre-imported one): the learner's edits are seen, nothing
leaks from one check to the next, the time limit holds, every process the code starts is
stopped, the results record cannot be forged, and the server ends with its kernel.
Fixtures: tests/fixtures/checker/ (see test_checker.py).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from kernels import wait_until_gone
from test_checker import FIXTURES, SOLUTION, VARIANTS, _fixture_metadata, copy_exercise, private_tmp

from workbook import exercise
from workbook._exercises import check as checking
from workbook._exercises import check_server as _check_server
from workbook._exercises.check import check
from workbook._exercises.model import Verdict, load
from workbook._exercises.result import CheckResult
from workbook._paths import ROOT

__all__ = ["_fixture_metadata", "private_tmp"]  # test_checker's fixtures, used here too

LINUX = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork and /proc")
GIT = pytest.mark.skipif(shutil.which("git") is None, reason="the stub is git's copy")
STUB = (FIXTURES / "exercises" / "ex01_add.py").read_text()


@pytest.fixture
def no_test_process(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Any start of a test process fails the test; returns the ids it was asked for."""
    asked: list[str] = []

    def refuse(meta, tree, *how):
        asked.append(meta.id)
        raise AssertionError(f"{meta.id}: a test process was started for a quick verdict")

    monkeypatch.setattr(checking, "run_tests", refuse)
    return asked


# --- quick verdicts ----------------------------------------------------------------------------


def test_the_untouched_stub_is_not_attempted_without_a_test_process(
    no_test_process: list[str],
) -> None:
    result = exercise("ex01").check()
    assert result.verdict is Verdict.NOT_ATTEMPTED, result
    assert "ex01: return the sum of a and b" in result.message, result
    assert not result.warm and no_test_process == []


def test_every_exercise_stub_is_not_attempted_quickly_quoting_its_own_message(
    monkeypatch: pytest.MonkeyPatch, no_test_process: list[str]
) -> None:
    real = ROOT / "exercises" / "exercises.toml"
    monkeypatch.setenv("WORKBOOK_EXERCISES_FILE", str(real))
    for meta in load(real):
        result = check(meta.id, quick=True)
        assert result.verdict is Verdict.NOT_ATTEMPTED, result
        assert f"NotImplementedError('{meta.id}: " in result.message, result
        assert meta.file in result.message, result


@GIT
def test_a_stub_with_only_comments_changed_is_still_not_attempted(
    tmp_path: Path, no_test_process: list[str]
) -> None:
    learner = "# my notes\n" + STUB.replace("\n\n", "\n\n\n") + "# end\n"
    toml = copy_exercise(tmp_path, learner, commit=True)
    assert check("ex01", metadata=toml, quick=True).verdict is Verdict.NOT_ATTEMPTED


@GIT
def test_changed_code_goes_to_the_tests(tmp_path: Path, no_test_process: list[str]) -> None:
    learner = STUB.replace("raise NotImplementedError", "return 0  #")
    toml = copy_exercise(tmp_path, learner, commit=True)
    with pytest.raises(AssertionError, match="a test process was started"):
        check("ex01", metadata=toml, quick=True)
    assert no_test_process == ["ex01"]


@GIT
def test_a_stub_in_another_folder_is_left_to_the_tests(
    tmp_path: Path, no_test_process: list[str]
) -> None:
    toml = copy_exercise(tmp_path, STUB, commit=True)  # the learner's folder: tmp_path/exercises
    assert check("ex01", metadata=toml, quick=True).verdict is Verdict.NOT_ATTEMPTED
    with pytest.raises(AssertionError, match="a test process was started"):
        # The committed stub too, but not the learner's folder: a wrong answer that keeps a
        # stub's raise is for its tests to judge.
        check("ex01", tree=FIXTURES / "exercises", metadata=toml, quick=True)


@pytest.mark.parametrize(
    "learner",
    ["def add(a, b)\n    return a + b\n", "def add(a, b):\nreturn a + b\n", "x = (\n"],
    ids=["syntax", "indentation", "unclosed"],
)
def test_a_file_that_does_not_compile_reads_what_the_tests_would_say(
    learner: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "ex01_add.py").write_text(learner)
    slow = check("ex01", tree=tmp_path)  # through the tests, in a fresh process
    started: list[str] = []
    real_run = checking.run_tests
    monkeypatch.setattr(checking, "run_tests", lambda *a: started.append("run") or real_run(*a))
    quick = check("ex01", tree=tmp_path, quick=True)
    assert started == [], "a test process was started for a file that does not compile"
    assert slow.verdict is quick.verdict is Verdict.INCORRECT, (slow, quick)
    assert "syntax error at line" in quick.message, quick
    assert (quick.message, quick.details) == (slow.message, slow.details)


# --- the warm check server -----------------------------------------------------------------


@LINUX
def test_an_edit_between_two_checks_is_seen_by_the_same_warm_server(tmp_path: Path) -> None:
    toml = copy_exercise(tmp_path, SOLUTION)
    learner = tmp_path / "exercises" / "ex01_add.py"
    first = check("ex01", metadata=toml, quick=True)
    assert first.verdict is Verdict.CORRECT and first.warm, first
    server = _check_server._server
    assert server is not None
    learner.write_text((VARIANTS / "fails" / "ex01_add.py").read_text())
    second = check("ex01", metadata=toml, quick=True)
    assert second.verdict is Verdict.INCORRECT and second.warm, second
    assert second.message == "add(2, 3) should be 5.", second
    learner.write_text(SOLUTION)
    third = check("ex01", metadata=toml, quick=True)
    assert third.verdict is Verdict.CORRECT and third.warm, third
    assert _check_server._server is server, "the server was not reused"


LEAKS = """
import builtins
import json
import os
import sys

import celery._state
import dramatiq
from dramatiq.brokers.stub import StubBroker

seen = {
    "imports_before": getattr(builtins, "_fixture_imports", 0),
    "broker": dramatiq.broker.global_broker is not None,
    "celery_app": celery._state.default_app is not None
        or getattr(celery._state._tls, "current_app", None) is not None,
    "own_session": os.getsid(0) == os.getpid() == os.getpgid(0),
    "pid": os.getpid(),
    "projects": sorted(m for m in sys.modules if m.startswith(("app_snippets", "ex0"))),
}
with open(os.environ["FIXTURE_STATE_FILE"], "a") as out:
    out.write(json.dumps(seen) + "\\n")
builtins._fixture_imports = seen["imports_before"] + 1  # state a next check must not see
dramatiq.set_broker(StubBroker())
celery.Celery("leaky", set_as_current=True)
"""


@LINUX
def test_nothing_one_check_changes_is_seen_by_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "state.jsonl"
    monkeypatch.setenv("FIXTURE_STATE_FILE", str(state))
    toml = copy_exercise(tmp_path, LEAKS + SOLUTION)
    for _ in range(2):
        result = check("ex01", metadata=toml, quick=True)
        assert result.verdict is Verdict.CORRECT and result.warm, result
    first, second = (json.loads(line) for line in state.read_text().splitlines())
    for seen in (first, second):
        assert seen["imports_before"] == 0, "the learner's module ran twice in one process"
        assert not seen["broker"], "a Dramatiq broker was set before the learner's code ran"
        assert not seen["celery_app"], "a Celery app was current before the learner's code ran"
        assert seen["own_session"], "the test process is not in a session of its own"
        assert seen["projects"] == ["ex01_add"], seen["projects"]
    assert first["pid"] != second["pid"]


@LINUX
def test_processes_left_behind_by_a_warm_check_are_reported_and_killed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid_file = tmp_path / "pids"
    monkeypatch.setenv("FIXTURE_PID_FILE", str(pid_file))
    result = check("ex01", tree=VARIANTS / "stray_process", quick=True)
    assert result.warm and result.verdict is Verdict.INCORRECT, result
    assert "left 2 processes running" in result.message, result
    stays, escapes = (int(pid) for pid in pid_file.read_text().split())
    assert not wait_until_gone({stays, escapes}, 10), "a sleep the learner started survived"


# "Nothing a warm check started outlives the verdict": test_checker.py's
# test_nothing_the_check_started_outlives_the_verdict[warm-*], with the fresh path's asserts.


@LINUX
def test_a_warm_check_stopped_at_its_time_limit_still_reports(tmp_path: Path) -> None:
    toml = copy_exercise(tmp_path, SOLUTION, timeout=8)
    result = check("ex01", tree=VARIANTS / "endless_loop", metadata=toml, quick=True)
    assert result.warm and result.verdict is Verdict.INCORRECT, result
    assert "within 8 s" in result.message and "test_adds" in result.message, result


FORGES = """
import atexit
import json
import os
from pathlib import Path

# The results file sits beside the check's temp folder; the signing key's pipe is fd 3.
_results = Path(os.environ["TMPDIR"]).parent / "results.json"
try:
    _key = os.read(3, 4096)
except OSError:
    _key = b""
Path(os.environ["FIXTURE_TAMPER_FILE"]).write_text(json.dumps({"key": _key.hex()}))


def _forge() -> None:
    body = json.dumps({"items": ["t"], "outcomes": {"t": "passed"}, "exitstatus": 0})
    _results.write_text(json.dumps({"record": body, "mac": "0" * 64}))
    os._exit(0)


atexit.register(_forge)


def add(a: int, b: int) -> int:
    return 0
"""


@LINUX
def test_a_warm_check_cannot_be_forged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spy = tmp_path / "tamper.json"
    monkeypatch.setenv("FIXTURE_TAMPER_FILE", str(spy))
    toml = copy_exercise(tmp_path, FORGES)
    result = check("ex01", metadata=toml, quick=True)
    assert result.warm and result.verdict is Verdict.INCORRECT, result
    assert "could not be verified" in result.message, result
    assert json.loads(spy.read_text())["key"] == "", "learner code could read the signing key"


@LINUX
def test_a_dead_server_is_replaced_and_a_disabled_one_falls_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    solutions = FIXTURES / "solutions"
    assert check("ex01", tree=solutions, quick=True).warm
    server = _check_server._server
    assert server is not None
    os.kill(server.proc.pid, signal.SIGKILL)
    server.proc.wait(10)
    again = check("ex01", tree=solutions, quick=True)
    assert again.verdict is Verdict.CORRECT and again.warm, again
    assert _check_server._server is not server
    monkeypatch.setenv(_check_server.SWITCH_ENV, "0")
    cold = check("ex01", tree=solutions, quick=True)
    assert cold.verdict is Verdict.CORRECT and not cold.warm, cold


@LINUX
def test_two_checks_at_once_share_one_warm_server() -> None:
    if _check_server._server is not None:  # a fresh one: both checks wait for its start
        _check_server.discard(_check_server._server)
    results: list[CheckResult] = []

    def run(tree: Path) -> None:
        results.append(check("ex01", tree=tree, quick=True))

    trees = (FIXTURES / "solutions", VARIANTS / "fails")
    threads = [threading.Thread(target=run, args=(tree,)) for tree in trees]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert sorted(str(r.verdict) for r in results) == ["correct", "incorrect"], results
    assert all(r.warm for r in results), results


KERNEL = """
import os, sys, time
from workbook._exercises.check import check
from workbook._exercises import check_server as _check_server
result = check("ex01", tree=sys.argv[1], quick=True)
print(result.warm, _check_server._server.proc.pid, flush=True)
time.sleep(600)
"""


@LINUX
def test_the_server_ends_with_its_kernel() -> None:
    kernel = subprocess.Popen(
        [sys.executable, "-c", KERNEL, str(FIXTURES / "solutions")],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        warm, pid = kernel.stdout.readline().split()  # type: ignore[union-attr]
        assert warm == "True"
        os.kill(kernel.pid, signal.SIGKILL)  # no atexit, no clean-up: only the socket closes
        assert not wait_until_gone({int(pid)}, 10), "the check server outlived its kernel"
    finally:
        kernel.kill()
        kernel.wait()


SHELL = """
import sys
from workbook._cli import main
code = main(["check", "ex01"])
heavy = ("celery", "dramatiq", "fastapi", "pytest", "rq", "uvicorn")
print(code, [name for name in heavy if name in sys.modules])
"""


def test_the_shell_reads_an_untouched_stub_without_importing_the_queues() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SHELL], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.stdout.splitlines()[-1] == "3 []", done.stdout + done.stderr
