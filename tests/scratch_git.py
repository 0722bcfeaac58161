"""A scratch git repository with the notebook filter `make install` sets up (tools/bootstrap.py),
for tests that ask what git sees after JupyterLab saved a notebook."""

from __future__ import annotations

import runpy
import shutil
import subprocess
from pathlib import Path

from workbook._lab import refresh_git_index

ROOT = Path(__file__).resolve().parents[1]
FILTER = runpy.run_path(str(ROOT / "tools" / "bootstrap.py"))["FILTER"]


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
    assert done.returncode == 0, f"git {' '.join(args)} failed:\n{done.stderr}"
    return done.stdout


def repo_with(tmp: Path, name: str, committed: bytes) -> Path:
    """A repository holding `name` as committed, its filter configured as make install does."""
    tmp.mkdir(parents=True, exist_ok=True)
    git(tmp, "init", "--quiet")
    git(tmp, "config", "user.email", "learner@example.com")
    git(tmp, "config", "user.name", "learner")
    git(tmp, "config", "filter.nbstripout.clean", FILTER)
    git(tmp, "config", "filter.nbstripout.smudge", "cat")
    (tmp / ".venv").symlink_to(ROOT / ".venv")  # the filter runs .venv/bin/nbstripout
    shutil.copy(ROOT / ".gitattributes", tmp / ".gitattributes")
    (tmp / name).write_bytes(committed)
    git(tmp, "add", ".gitattributes", name)
    git(tmp, "commit", "--quiet", "-m", "as committed")
    return tmp


def changes(repo: Path) -> str:
    return git(repo, "status", "--porcelain", "--untracked-files=no") + git(repo, "diff")


def changes_after_saving(tmp: Path, name: str, committed: bytes, saved: bytes) -> str:
    """`git status --porcelain` and `git diff` once `saved` replaced the committed file and
    JupyterLab's post-save hook (workbook lab) ran."""
    repo = repo_with(tmp, name, committed)
    (repo / name).write_bytes(saved)
    refresh_git_index(repo / name)
    return changes(repo)
