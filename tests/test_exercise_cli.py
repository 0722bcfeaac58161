"""`workbook exercises | check | hint | solution | reset | watch` on fixture exercises:
the JSON fields and exit codes other tools rely on."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from workbook._paths import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "checker"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "WORKBOOK_EXERCISES_FILE": str(FIXTURES / "exercises.toml"),
        "WORKBOOK_PROGRESS_FILE": str(tmp_path / "progress.json"),
    }


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workbook", *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_exercises_json_has_the_documented_fields(env: dict[str, str]) -> None:
    done = cli(env, "exercises", "--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [r["id"] for r in rows] == ["ex01", "ex02"]
    first = rows[0]
    assert first["file"] == "tests/fixtures/checker/exercises/ex01_add.py"
    assert first["solution"] == "tests/fixtures/checker/solutions/ex01_add.py"
    assert first["notebook"] == "tests/fixtures/checker/fixture_notebook.ipynb"
    assert (first["title"], first["status"]) == ("Add two numbers", "not attempted")


def test_exercises_lists_progress(env: dict[str, str]) -> None:
    Path(env["WORKBOOK_PROGRESS_FILE"]).write_text('{"ex02": {"status": "correct"}}')
    done = cli(env, "exercises")
    assert done.returncode == 0
    assert "1/2 correct" in done.stdout and "Next: ex01" in done.stdout
    assert json.loads(cli(env, "exercises", "--json").stdout)[1]["status"] == "correct"


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["ex01"], 3, "not attempted"),
        (["ex01", "--solution"], 0, "correct"),
        (["ex01", "--tree", str(FIXTURES / "variants" / "fails")], 1, "add(2, 3) should be 5."),
        ([], 3, "0/2 correct, 0 incorrect, 2 not attempted"),
        (["--solution"], 0, "2/2 correct"),
        (["ex99"], 2, "No exercise 'ex99'. Known: ex01, ex02"),
    ],
)
def test_check_exit_codes(env: dict[str, str], args: list[str], code: int, says: str) -> None:
    done = cli(env, "check", *args)
    assert done.returncode == code, done.stdout + done.stderr
    assert says in done.stdout + done.stderr


def test_no_exercises_yet_is_not_an_error(env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "empty.toml").write_text("# no [[exercise]] tables yet\n")
    env["WORKBOOK_EXERCISES_FILE"] = str(tmp_path / "empty.toml")
    for command in (["exercises"], ["check"]):
        done = cli(env, *command)
        assert (done.returncode, "No exercises yet" in done.stdout) == (0, True), done
    assert cli(env, "exercises", "--json").stdout.strip() == "[]"


def test_hint_gives_the_next_hint_then_says_it_was_the_last(env: dict[str, str]) -> None:
    outputs = [cli(env, "hint", "ex01").stdout for _ in range(3)]
    assert [o.split(" for")[0] for o in outputs] == ["Hint 1 of 3", "Hint 2 of 3", "Hint 3 of 3"]
    assert "last hint" in outputs[2] and "last hint" not in outputs[1]
    assert "Use +." in cli(env, "hint", "ex01", "2").stdout
    assert cli(env, "hint", "ex01", "7").returncode == 2


def test_solution_warns_then_shows_the_file(env: dict[str, str]) -> None:
    done = cli(env, "solution", "ex01")
    assert done.stdout.startswith("Spoiler")
    assert (FIXTURES / "solutions" / "ex01_add.py").read_text().strip() in done.stdout


def test_reset_refuses_without_a_terminal_or_yes(env: dict[str, str]) -> None:
    learner = FIXTURES / "exercises" / "ex01_add.py"
    before = learner.read_text()
    done = cli(env, "reset", "ex01")
    assert done.returncode == 2 and "--yes" in done.stderr
    assert learner.read_text() == before


def copy_exercise(tmp_path: Path, learner: str) -> Path:
    for part in ("exercises", "solutions"):
        shutil.copytree(FIXTURES / part, tmp_path / part)
    (tmp_path / "exercises" / "ex01_add.py").write_text(learner)
    toml = tmp_path / "exercises.toml"
    text = (
        (FIXTURES / "exercises.toml").read_text().replace("tests/fixtures/checker", str(tmp_path))
    )
    toml.write_text(text.replace(f"{tmp_path}/fixture_notebook", f"{FIXTURES}/fixture_notebook"))
    return toml


@pytest.mark.skipif(shutil.which("git") is None, reason="reset restores from git")
def test_reset_yes_restores_the_stub(env: dict[str, str], tmp_path: Path) -> None:
    stub = (FIXTURES / "exercises" / "ex01_add.py").read_text()
    env["WORKBOOK_EXERCISES_FILE"] = str(copy_exercise(tmp_path, stub))
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "exercises"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "stub"], check=True)
    learner = tmp_path / "exercises" / "ex01_add.py"
    learner.write_text("# my work\n")
    done = cli(env, "reset", "ex01", "--yes")
    assert done.returncode == 0, done.stderr
    assert learner.read_text() == stub and "saved as" in done.stdout


def test_watch_rechecks_on_save_and_stops_on_ctrl_c(env: dict[str, str], tmp_path: Path) -> None:
    solution = (FIXTURES / "solutions" / "ex01_add.py").read_text()
    env["WORKBOOK_EXERCISES_FILE"] = str(copy_exercise(tmp_path, solution))
    proc = subprocess.Popen(
        [sys.executable, "-m", "workbook", "watch", "ex01"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # As in a terminal: a suite started in the background (`make test &`) inherits an
        # ignored SIGINT, and Python then installs no Ctrl-C handler.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()

    def wait_for(text: str) -> None:
        deadline = time.monotonic() + 60
        seen = []
        while time.monotonic() < deadline:
            try:
                seen.append(lines.get(timeout=1))
            except queue.Empty:
                continue
            if text in seen[-1]:
                return
        pytest.fail(f"watch never printed {text!r}; it printed: {''.join(seen)}")

    try:
        wait_for("✔ ex01 correct")  # the first check, at start
        learner = tmp_path / "exercises" / "ex01_add.py"
        learner.write_text((FIXTURES / "variants" / "fails" / "ex01_add.py").read_text())
        wait_for("changed: checking ex01")
        wait_for("✘ ex01 incorrect")
        proc.send_signal(signal.SIGINT)
        wait_for("Stopped watching")
        assert proc.wait(30) == 0
    finally:
        proc.kill()
        proc.wait()
