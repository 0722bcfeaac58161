"""Notebook outputs never reach git: the nbstripout filter that `make install` sets up.

A learner who ran every notebook must see only their exercise files in `git status`, and
`git pull` a new chapter without a conflict over outputs. tests/test_browser.py checks the
same with a notebook saved by JupyterLab itself; these run without a browser.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import nbformat
import pytest
from scratch_git import FILTER, ROOT, changes, changes_after_saving, git, repo_with

from workbook import wait_for
from workbook._lab import refresh_git_index

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def test_committed_notebooks_are_what_the_filter_writes(tmp_path: Path):
    """Otherwise every notebook a learner saves shows as modified, even with no outputs."""
    for path in NOTEBOOKS:
        shutil.copy(path, tmp_path)
    command = shlex.split(FILTER)
    command[0] = str(ROOT / command[0])
    subprocess.run([*command, *sorted(tmp_path.glob("*.ipynb"))], check=True)  # one start-up
    differ = [p.name for p in NOTEBOOKS if (tmp_path / p.name).read_bytes() != p.read_bytes()]
    assert not differ, (
        f"{differ} differ from what the git filter makes of them (language_info?). Fix:"
        f" {FILTER} notebooks/*.ipynb"
    )


def saved_by_a_learner(content: bytes) -> bytes:
    """What JupyterLab writes after Run All: outputs, counts, widget state, language_info."""
    notebook = nbformat.reads(content.decode(), as_version=4)
    for count, cell in enumerate((c for c in notebook.cells if c.cell_type == "code"), 1):
        cell.execution_count = count
        cell.outputs = [
            nbformat.v4.new_output("stream", name="stdout", text="measured: 2001.3 ms\n"),
            nbformat.v4.new_output(
                "display_data",
                data={"application/vnd.jupyter.widget-view+json": {"model_id": "m1"}},
            ),
        ]
    notebook.metadata["language_info"] = {"name": "python", "version": "3.12.7"}
    notebook.metadata["widgets"] = {
        "application/vnd.jupyter.widget-state+json": {"state": {"m1": {}}, "version_major": 2}
    }
    return nbformat.writes(notebook).encode() + b"\n"


@needs_git
def test_outputs_and_widget_state_do_not_show_in_git(tmp_path: Path):
    committed = NOTEBOOKS[0].read_bytes()
    saved = saved_by_a_learner(committed)
    assert b"2001.3 ms" in saved and b"widget-state" in saved  # the file on disk keeps them
    assert changes_after_saving(tmp_path, "nb.ipynb", committed, saved) == ""


@needs_git
def test_the_save_hook_waits_out_another_git_command(tmp_path: Path, monkeypatch):
    """A `git status` in a terminal holds the index's lock when the hook wants to `git add`:
    the hook tries again instead of leaving the notebook listed."""
    committed = NOTEBOOKS[0].read_bytes()
    repo = repo_with(tmp_path / "repo", "nb.ipynb", committed)
    (repo / "nb.ipynb").write_bytes(saved_by_a_learner(committed))
    adds = tmp_path / "adds.log"  # the exit status of every `git add` the hook runs
    wrapper = tmp_path / "bin" / "git"
    wrapper.parent.mkdir()
    wrapper.write_text(
        f'#!/bin/sh\n{shlex.quote(shutil.which("git") or "git")} "$@"; status=$?\n'
        f'[ "$1" = add ] && echo $status >> {shlex.quote(str(adds))}\nexit $status\n'
    )
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{wrapper.parent}{os.pathsep}{os.environ['PATH']}")
    lock = repo / ".git" / "index.lock"
    lock.write_bytes(b"")  # what a running git command holds
    hook = threading.Thread(target=refresh_git_index, args=(repo / "nb.ipynb",))
    hook.start()
    wait_for(lambda: adds.exists() and adds.read_text().split(), 10, limit=60)
    assert adds.read_text().split()[0] != "0", "git add succeeded through a held lock"
    lock.unlink()  # the other command ends
    hook.join(60)
    assert not hook.is_alive() and changes(repo) == "", "the hook gave up on a locked index"


@needs_git
def test_a_real_edit_still_shows_in_git(tmp_path: Path):
    committed = NOTEBOOKS[0].read_bytes()
    notebook = nbformat.reads(saved_by_a_learner(committed).decode(), as_version=4)
    notebook.cells[0].source += "\nA sentence the learner added."
    changes = changes_after_saving(
        tmp_path, "nb.ipynb", committed, nbformat.writes(notebook).encode()
    )
    assert "M nb.ipynb" in changes and '+    "A sentence the learner added.' in changes
    assert "2001.3 ms" not in changes


@needs_git
def test_git_pull_updates_a_notebook_the_learner_ran(tmp_path: Path):
    """The issue's case: a chapter fixed upstream, the learner's copy full of outputs."""
    committed = NOTEBOOKS[0].read_bytes()
    upstream = repo_with(tmp_path / "upstream", "nb.ipynb", committed)
    git(tmp_path, "clone", "--quiet", str(upstream), "learner")
    learner = tmp_path / "learner"
    for key, value in (("clean", FILTER), ("smudge", "cat")):
        git(learner, "config", f"filter.nbstripout.{key}", value)
    (learner / ".venv").symlink_to(ROOT / ".venv")
    (learner / "nb.ipynb").write_bytes(saved_by_a_learner(committed))
    refresh_git_index(learner / "nb.ipynb")  # what JupyterLab runs after each save
    assert changes(learner) == ""

    notebook = nbformat.reads(committed.decode(), as_version=4)
    notebook.cells[0].source += "\nA sentence fixed upstream."
    fixed = nbformat.writes(notebook).encode() + b"\n"
    (upstream / "nb.ipynb").write_bytes(fixed)
    git(upstream, "commit", "--quiet", "-am", "a fix upstream")
    git(learner, "pull", "--quiet")
    assert (learner / "nb.ipynb").read_bytes() == fixed


def set_up_filter(folder: Path, path: str) -> subprocess.CompletedProcess[str]:
    """tools/bootstrap.py's git step, run from a copy of it inside `folder`."""
    (folder / "tools").mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "tools" / "bootstrap.py", folder / "tools")
    code = "import runpy; runpy.run_path('tools/bootstrap.py')['git_filter'](True)"
    env = {**os.environ, "PATH": path}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=folder, env=env, capture_output=True, text=True
    )


@needs_git
def test_install_sets_up_the_filter_in_a_clone(tmp_path: Path):
    git(tmp_path, "init", "--quiet")
    done = set_up_filter(tmp_path, os.environ["PATH"])
    assert done.returncode == 0, done.stderr
    assert git(tmp_path, "config", "--local", "filter.nbstripout.clean").strip() == FILTER


def test_install_goes_on_without_git_or_outside_a_clone(tmp_path: Path):
    no_git = tmp_path / "bin"
    no_git.mkdir()
    done = set_up_filter(tmp_path / "no-git", str(no_git))  # git is not on PATH at all
    assert done.returncode == 0, done.stderr
    done = set_up_filter(tmp_path / "not-a-clone", os.environ["PATH"])
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "not-a-clone" / ".git").exists()
