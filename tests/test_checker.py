"""The exercise checker on fixture exercises: every kind of broken learner code gets a clear
verdict within the time limit, "correct" needs signed evidence, and nothing is left running.

The fixtures (tests/fixtures/checker/) are a tiny exercise, `add(a, b)`, its stub, solution
and tests, and learner variants in variants/<name>/ex01_add.py. No Redis is needed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from kernels import living, start_kernel, wait_until_gone

from workbook import WorkbookError, exercise, exercises
from workbook._exercises import check_server
from workbook._exercises.check import check
from workbook._exercises.model import Verdict, load
from workbook._exercises.progress import read_progress, record_verdict
from workbook._exercises.result import CheckResult
from workbook._paths import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "checker"
VARIANTS = FIXTURES / "variants"
NO_INTERNALS = ("_pytest", "site-packages", "INTERNALERROR", "importlib")


@pytest.fixture(autouse=True)
def _fixture_metadata(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The fixture exercises, a private progress file, and the check server as a learner
    has it (used by test_checker_quick too)."""
    monkeypatch.setenv("WORKBOOK_EXERCISES_FILE", str(FIXTURES / "exercises.toml"))
    monkeypatch.setenv("WORKBOOK_PROGRESS_FILE", str(tmp_path / "progress.json"))
    monkeypatch.delenv(check_server.SWITCH_ENV, raising=False)


def variant(name: str) -> CheckResult:
    return check("ex01", tree=VARIANTS / name)


def copy_exercise(
    tmp_path: Path, learner: str, timeout: float = 30, *, commit: bool = False
) -> Path:
    """The fixture exercise copied to tmp_path, the learner file replaced; returns its toml.
    With `commit`, tmp_path is first a git repository whose commit holds the stub."""
    for part in ("exercises", "solutions"):
        shutil.copytree(FIXTURES / part, tmp_path / part)
    if commit:
        git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@example.com"]
        subprocess.run([*git, "init", "-q"], check=True)
        subprocess.run([*git, "add", "exercises"], check=True)
        subprocess.run([*git, "commit", "-q", "-m", "stub"], check=True)
    (tmp_path / "exercises" / "ex01_add.py").write_text(learner)
    toml = tmp_path / "exercises.toml"
    toml.write_text(
        f"""[[exercise]]
id = "ex01"
title = "Add two numbers"
notebook = "{FIXTURES / "fixture_notebook.ipynb"}"
file = "{tmp_path / "exercises" / "ex01_add.py"}"
solution = "{tmp_path / "solutions" / "ex01_add.py"}"
tests = "{tmp_path / "exercises" / "tests" / "test_ex01_add.py"}"
timeout = {timeout}
hints = ["one", "two", "three"]
"""
    )
    return toml


SOLUTION = (FIXTURES / "solutions" / "ex01_add.py").read_text()


# --- the three verdicts --------------------------------------------------------------------


def test_the_solution_is_correct_with_every_test_counted() -> None:
    result = check("ex01", tree=FIXTURES / "solutions")
    assert result.verdict is Verdict.CORRECT, result
    assert (result.passed, result.collected, result.exit_code) == (3, 3, 0)


def test_the_untouched_stub_is_not_attempted() -> None:
    result = check("ex01")
    assert result.verdict is Verdict.NOT_ATTEMPTED, result
    assert "ex01: return the sum of a and b" in result.message
    assert result.exit_code == 3


def test_not_attempted_is_seen_in_a_worker_log_quoted_by_an_assertion() -> None:
    assert check("ex02").verdict is Verdict.NOT_ATTEMPTED
    assert check("ex02", tree=FIXTURES / "solutions").verdict is Verdict.CORRECT


def test_a_wrong_answer_gets_the_assertion_sentence_not_pytest_internals() -> None:
    result = variant("fails")
    assert result.verdict is Verdict.INCORRECT
    assert result.message == "add(2, 3) should be 5."
    assert result.details == "Second line of the message."
    assert result.exit_code == 1


# --- broken learner code: a clear incorrect, in the learner's own words --------------------


@pytest.mark.parametrize(
    ("name", "says", "shows"),
    [
        ("raises_at_import", "KeyError", 'raises_at_import/ex01_add.py", line 4, in <module>'),
        ("crashes_in_function", "ZeroDivisionError", 'ex01_add.py", line 5, in add'),
        ("missing_module", "'workbook_fixture_not_installed'", "import workbook_fixture"),
        ("missing_function", "has no 'add'", ""),
        ("empty", "has no 'add'", ""),
        ("sys_exit_at_import", "sys.exit(0) while being imported", "line 5, in <module>"),
        ("os_exit_at_import", "os._exit()", ""),
        ("os_exit_in_function", "os._exit()", ""),
        ("flood", "more than 1 MB of output", ""),
        ("skips", "skipped (not today)", ""),
    ],
)
def test_broken_code_is_incorrect_with_a_clear_message(name: str, says: str, shows: str) -> None:
    result = variant(name)
    assert result.verdict is Verdict.INCORRECT, result
    assert says in result.message, result
    assert shows in result.details, result
    text = str(result)
    assert not any(word in text for word in NO_INTERNALS), text
    assert len(text) < 2_000


def test_a_syntax_error_names_the_line(tmp_path: Path) -> None:
    (tmp_path / "ex01_add.py").write_text("def add(a, b)\n    return a + b\n")
    result = check("ex01", tree=tmp_path)
    assert result.verdict is Verdict.INCORRECT
    assert "syntax error at line 1" in result.message
    assert "^" in result.details


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    result = check("ex01", tree=tmp_path)
    assert result.verdict is Verdict.INCORRECT
    assert "There is no ex01_add.py" in result.message


def test_an_endless_loop_is_stopped_at_the_time_limit(tmp_path: Path) -> None:
    # 8 s, not less: pytest alone takes 3-5 s to start on a busy two-core machine.
    toml = copy_exercise(tmp_path, SOLUTION, timeout=8)
    result = check("ex01", tree=VARIANTS / "endless_loop", metadata=toml)
    assert result.verdict is Verdict.INCORRECT
    assert "within 8 s" in result.message and "test_adds" in result.message, result
    assert result.duration < 40  # generous: the limit is 8 s


def test_processes_the_code_started_are_reported_and_killed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid_file = tmp_path / "pids"
    monkeypatch.setenv("FIXTURE_PID_FILE", str(pid_file))
    result = variant("stray_process")
    assert result.verdict is Verdict.INCORRECT
    assert "left 2 processes running" in result.message, result
    assert "sleep 300" in result.details and "sleep 301" in result.details, result
    stays, escapes = (int(pid) for pid in pid_file.read_text().split())
    assert not wait_until_gone({stays}, 10), "the sleep in the check's process group survived"
    if Path("/proc").is_dir():  # found by the check's token in its environment
        assert not wait_until_gone({escapes}, 10), "the sleep in its own session survived"


def test_a_forged_results_record_never_reads_correct(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = tmp_path / "tamper.json"
    monkeypatch.setenv("FIXTURE_TAMPER_FILE", str(spy))
    # A fresh process: a forked one's /proc/self/environ is the check server's, where this
    # fixture finds nothing to forge (test_checker_quick forges a warm check its own way).
    monkeypatch.setenv("WORKBOOK_CHECK_SERVER", "0")
    result = variant("tamper")
    assert result.verdict is Verdict.INCORRECT
    assert "could not be verified" in result.message
    seen = json.loads(spy.read_text())
    assert seen["results"], "the fixture did not find the results path, so it tested nothing"
    assert seen["key"] == "", "learner code could read the signing key"


# --- progress --------------------------------------------------------------------------------


def test_correct_is_recorded_and_a_later_incorrect_clears_it(tmp_path: Path) -> None:
    toml = copy_exercise(tmp_path, SOLUTION)
    assert check("ex01", metadata=toml).verdict is Verdict.CORRECT
    entry = read_progress()["ex01"]
    assert entry["status"] == "correct" and entry["correct_at"]
    (tmp_path / "exercises" / "ex01_add.py").write_text(
        (VARIANTS / "fails" / "ex01_add.py").read_text()
    )
    assert check("ex01", metadata=toml).verdict is Verdict.INCORRECT
    entry = read_progress()["ex01"]
    assert entry["status"] == "incorrect" and "correct_at" not in entry


RECORDS = """
import sys
from workbook._exercises.progress import update_progress
for n in range(100):
    update_progress(f"{sys.argv[1]}-{n}", status="correct")
"""


def test_records_made_at_the_same_moment_are_all_kept(tmp_path: Path) -> None:
    writers = [
        subprocess.Popen([sys.executable, "-c", RECORDS, name], cwd=ROOT)
        for name in ("kernel", "shell")
    ]
    assert [w.wait(120) for w in writers] == [0, 0]
    kept = read_progress()
    assert sum(key.startswith("kernel-") for key in kept) == 100, "records were lost"
    assert sum(key.startswith("shell-") for key in kept) == 100, "records were lost"


def test_checks_of_other_trees_are_not_recorded() -> None:
    check("ex01", tree=FIXTURES / "solutions")
    assert read_progress() == {}


# --- the notebook handle ----------------------------------------------------------------------


def test_hints_are_graduated_and_the_last_says_so() -> None:
    ex = exercise("ex01")
    first, second, third, again = ex.hint(), ex.hint(), ex.hint(), ex.hint()
    assert str(first).startswith("Hint 1 of 3") and "last hint" not in str(first)
    assert str(second).startswith("Hint 2 of 3")
    assert "That was the last hint" in str(third) and str(again) == str(third)
    assert "Use +." in str(exercise("ex01").hint(2))
    with pytest.raises(WorkbookError, match="from 1 to 3"):
        ex.hint(4)


def test_the_hint_count_outlives_the_kernel_and_is_shared_with_the_shell() -> None:
    assert str(exercise("ex01").hint()).startswith("Hint 1 of 3")
    assert str(exercise("ex01").hint()).startswith(
        "Hint 2 of 3"
    )  # a new handle, as after a restart
    assert read_progress()["ex01"]["hints_seen"] == 2  # what `workbook hint` reads


def test_solution_shows_a_spoiler_warning_then_the_checked_file() -> None:
    shown = exercise("ex01").solution()
    assert str(shown).startswith("Spoiler")
    assert SOLUTION.strip() in str(shown)
    assert "<span" in shown._repr_html_()  # highlighted


def test_check_renders_in_a_notebook_and_a_terminal() -> None:
    result = exercise("ex01").check()
    assert "not attempted" in result._repr_html_() and "#6e7781" in result._repr_html_()
    assert str(result).startswith("○ ex01 not attempted")
    assert exercise("ex01").status == "not attempted"


@pytest.mark.skipif(shutil.which("git") is None, reason="reset restores from git")
def test_reset_restores_the_committed_stub_and_keeps_a_copy(tmp_path: Path) -> None:
    stub = (FIXTURES / "exercises" / "ex01_add.py").read_text()
    toml = copy_exercise(tmp_path, SOLUTION, commit=True)
    learner = tmp_path / "exercises" / "ex01_add.py"
    shown = exercise("ex01", metadata=toml).reset()
    assert learner.read_text() == stub
    backups = list((tmp_path / "progress.json").parent.glob("backups/ex01_add.*.py"))
    assert [b.read_text() for b in backups] == [SOLUTION], shown


# --- metadata ---------------------------------------------------------------------------------

GOOD = {
    "id": '"ex01"',
    "title": '"Add"',
    "notebook": f'"{FIXTURES / "fixture_notebook.ipynb"}"',
    "file": f'"{FIXTURES / "exercises" / "ex01_add.py"}"',
    "solution": f'"{FIXTURES / "solutions" / "ex01_add.py"}"',
    "tests": f'"{FIXTURES / "exercises" / "tests" / "test_ex01_add.py"}"',
    "hints": '["a", "b"]',
}


def table(**changes: str | None) -> str:
    fields = {**GOOD, **changes}
    return "[[exercise]]\n" + "".join(f"{k} = {v}\n" for k, v in fields.items() if v is not None)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (table() + table(), "'id' must be unique"),
        (table(hints='["only one"]'), "'hints' needs at least two"),
        (table(file='"exercises/nope.py"'), "'file' names exercises/nope.py, which does not"),
        (table(solution=f'"{FIXTURES / "exercises" / "ex02_worker.py"}"'), "'solution' is ex02"),
        (table(id='"1"'), "'id' is '1', not of the form exNN"),
        (table(hint='["a", "b"]'), "'hint' is not a known field"),
        (table(title=None), "'title' is missing"),
        (table(timeout="0"), "'timeout' is 0"),
        ("[[exercise\n", "is not valid TOML"),
    ],
)
def test_bad_metadata_names_the_field(tmp_path: Path, text: str, error: str) -> None:
    path = tmp_path / "exercises.toml"
    path.write_text(text)
    with pytest.raises(WorkbookError, match=error.replace("(", r"\(")):
        load(path)


def test_metadata_without_exercises_is_an_empty_list(tmp_path: Path) -> None:
    (tmp_path / "exercises.toml").write_text("# nothing yet\n")
    assert load(tmp_path / "exercises.toml") == []
    assert [m.id for m in load()] == ["ex01", "ex02"]
    assert load(ROOT / "exercises" / "exercises.toml") is not None  # the real list parses


def test_an_unknown_id_lists_the_known_ones() -> None:
    with pytest.raises(WorkbookError, match=r"No exercise 'ex99'\. Known: ex01, ex02"):
        exercise("ex99")
    assert exercise(1).id == "ex01"


def test_what_the_workbook_machinery_started_is_stopped_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid_file = tmp_path / "pid"
    monkeypatch.setenv("FIXTURE_PID_FILE", str(pid_file))
    assert variant("machinery_process").verdict is Verdict.INCORRECT
    pid = int(pid_file.read_text())
    assert not wait_until_gone({pid}, 10), (
        "a process started through workbook._procs survived the check"
    )


def test_the_progress_list_shows_each_exercise_and_the_next_to_do(capsys) -> None:
    record_verdict("ex01", "correct")
    exercises()
    out = capsys.readouterr().out
    assert [line.split()[:2] for line in out.splitlines()[1:3]] == [
        ["ex01", "correct"],
        ["ex02", "not"],  # not attempted
    ]
    assert out.rstrip().endswith('1/2 correct. Next: ex02 (wb.exercise("ex02").check())')


def test_pythons_own_ast_race_gets_a_second_run_not_a_wrong_verdict(tmp_path: Path) -> None:
    first_run = tmp_path / "first-run-done"
    learner = f"""from pathlib import Path

MARK = Path({str(first_run)!r})
if not MARK.exists():  # what CPython 3.11's thread-unsafe ast.parse can do to pytest, once
    MARK.touch()
    raise SystemError("AST constructor recursion depth mismatch (before=129, after=42)")


def add(a: int, b: int) -> int:
    return a + b
"""
    toml = copy_exercise(tmp_path, learner)
    result = check("ex01", metadata=toml)
    assert first_run.exists() and result.verdict is Verdict.CORRECT, str(result)


# --- nothing the check started outlives it ----------------------------------------------------

ON_LINUX = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temp folder of this test's own, for the checker and everything it starts."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.setattr(tempfile, "tempdir", None)  # gettempdir() reads TMPDIR again
    return folder


def processes_using(folder: Path) -> set[int]:
    """Living processes whose working folder, command line or environment names `folder`
    (valkey-server blanks its environment but works in its folder)."""
    needle = str(folder).encode()
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cwd = os.readlink(entry / "cwd").encode()
            text = (entry / "cmdline").read_bytes() + (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in cwd or needle in text:
            found.add(int(entry.name))
    return living(found)


def leftovers(folder: Path, seconds: float = 10) -> tuple[set[int], list[str]]:
    """(processes, files) still in `folder` after up to `seconds` of waiting for them to go."""
    deadline = time.monotonic() + seconds
    while True:
        processes, files = processes_using(folder), sorted(p.name for p in folder.iterdir())
        if not (processes or files) or time.monotonic() > deadline:
            return processes, files
        time.sleep(0.1)


@ON_LINUX
@pytest.mark.parametrize("warm", [False, True], ids=["fresh", "warm"])
@pytest.mark.parametrize(
    ("then", "says"),
    [("pass", "left 1 process running"), ("flood", "more than 1 MB"), ("exit", "os._exit()")],
)
def test_nothing_the_check_started_outlives_the_verdict(
    warm: bool,
    then: str,
    says: str,
    private_tmp: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A fresh test process, and one forked by the warm check server (the learner's path)."""
    pid_file = tmp_path / "pids"
    monkeypatch.setenv("FIXTURE_PID_FILE", str(pid_file))
    monkeypatch.setenv("FIXTURE_THEN", then)
    result = check("ex01", tree=VARIANTS / "hides_processes", quick=warm, warm=warm)
    assert result.warm is warm, result
    assert result.verdict is Verdict.INCORRECT and says in result.message, result
    assert "sleep 303" in result.details or then == "flood", result  # named in words
    pids = {int(pid) for pid in pid_file.read_text().split()}  # test process, Redis, sleep
    assert not wait_until_gone(pids, 10), f"left running after a verdict ({then})"
    assert leftovers(private_tmp) == (set(), []), f"left behind after a verdict ({then})"


@ON_LINUX
@pytest.mark.slow
@pytest.mark.parametrize("quick", [False, True], ids=["fresh", "warm-server"])
def test_a_check_ends_at_once_when_its_kernel_is_killed(
    quick: bool, private_tmp: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    learner = (VARIANTS / "hides_processes" / "ex01_add.py").read_text()
    toml = copy_exercise(tmp_path, learner, timeout=120)
    pid_file = tmp_path / "pids"
    monkeypatch.setenv("FIXTURE_PID_FILE", str(pid_file))
    monkeypatch.setenv("FIXTURE_THEN", "loop")  # busy at import, printing nothing
    manager, client = start_kernel()
    try:
        client.execute(
            "import threading\nfrom workbook._exercises.check import check\n"
            f"threading.Thread(target=check, args=('ex01',), kwargs={{'metadata': {str(toml)!r}"
            f", 'quick': {quick}}}, daemon=True).start()"
        )
        deadline = time.monotonic() + 90
        while not pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        pids = {int(pid) for pid in pid_file.read_text().split()}
        os.kill(manager.provisioner.pid, signal.SIGKILL)
        assert not wait_until_gone(pids, 10), "the check ran on after its kernel was killed"
        processes, files = leftovers(private_tmp)
        assert not processes and not [f for f in files if f.startswith("workbook")], files
    finally:
        client.stop_channels()
        if manager.is_alive():
            manager.shutdown_kernel(now=True)
        manager.cleanup_resources()


def test_tests_that_passed_with_a_thread_left_running_say_so(tmp_path: Path) -> None:
    learner = SOLUTION + (
        "\n\nimport threading\nimport time\n\n"
        "threading.Thread(target=lambda: time.sleep(600), name='keeps-going').start()\n"
    )
    toml = copy_exercise(tmp_path, learner, timeout=120)
    result = check("ex01", metadata=toml)
    assert result.verdict is Verdict.INCORRECT, result
    assert "tests passed" in result.message and "'keeps-going'" in result.message, result
    assert "did not finish" not in result.message, result


# --- the learner's files cannot break the exercise system -------------------------------------

DELETES_ITS_TESTS = (
    SOLUTION
    + """
from pathlib import Path

for _name in ("test_ex01_add.py", "conftest.py"):
    (Path(__file__).parent / "tests" / _name).unlink(missing_ok=True)
"""
)


@pytest.mark.skipif(shutil.which("git") is None, reason="the tests are restored from git")
def test_learner_code_that_deletes_its_tests_breaks_nothing(tmp_path: Path) -> None:
    toml = copy_exercise(tmp_path, DELETES_ITS_TESTS, commit=True)
    tests = tmp_path / "exercises" / "tests" / "test_ex01_add.py"
    first = check("ex01", metadata=toml)
    assert first.verdict is Verdict.CORRECT and first.collected == 3, first
    assert not tests.exists(), "the learner code did not delete the tests: this tests nothing"
    assert [m.id for m in load(toml)] == ["ex01"]  # the list still loads
    again = check("ex01", metadata=toml)  # restored from git first
    assert again.verdict is Verdict.CORRECT and again.collected == 3, again
    tests.unlink(missing_ok=True)  # the second check deleted it again
    (tmp_path / "exercises" / "ex01_add.py").unlink()
    exercise("ex01", metadata=toml).reset()  # everything the exercise owns comes back
    assert tests.exists() and (tests.parent / "conftest.py").exists()
    assert check("ex01", metadata=toml).verdict is Verdict.NOT_ATTEMPTED


def test_missing_tests_outside_git_name_the_fix(tmp_path: Path) -> None:
    toml = copy_exercise(tmp_path, SOLUTION)
    (tmp_path / "exercises" / "tests" / "test_ex01_add.py").unlink()
    with pytest.raises(WorkbookError, match="does not exist"):
        load(toml)  # a path no one ever committed is a typo in the list, not a deletion


# --- the footer: only tests that ran are counted -------------------------------------------


def test_the_footer_counts_only_the_tests_that_ran(tmp_path: Path) -> None:
    # test_adds passes, test_negative_numbers fails, and the check stops there: the third
    # test did not run, which says nothing about it.
    (tmp_path / "ex01_add.py").write_text("def add(a, b):\n    return a + b if a > 0 else 9\n")
    result = check("ex01", tree=tmp_path)
    assert result.verdict is Verdict.INCORRECT, result
    assert (result.passed, result.failed, result.collected) == (1, 1, 3), result
    text = str(result)
    assert "1 passed, 1 failed, 1 not run (the check stops at the first failure)" in text, text
    assert "of 3 tests passed" not in text, text


def test_a_correct_verdict_counts_its_tests_once_and_names_the_file_checked() -> None:
    result = check("ex01", tree=FIXTURES / "solutions")
    text = str(result)
    assert "All 3 tests passed." in text and "3 passed" not in text, text
    assert "checked tests/fixtures/checker/solutions/ex01_add.py" in text, text
    assert "files in" not in text, text
