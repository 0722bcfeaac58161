"""Paths as the learner reads them, and files as git has them (the stub, the tests)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from .._errors import WorkbookError
from .._paths import ROOT


def label(path: Path | str) -> str:
    """A path relative to the repository root when it is inside it."""
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def committed(path: Path) -> str | None:
    """The file as committed to git (HEAD), or None: not a git clone, or not a tracked file."""
    folder = path.parent
    while not folder.is_dir() and folder != folder.parent:  # the folder may be gone too
        folder = folder.parent
    if shutil.which("git") is None:
        return None
    top = subprocess.run(
        ["git", "-C", str(folder), "rev-parse", "--show-toplevel"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if top.returncode != 0:
        return None
    try:
        relative = path.resolve().relative_to(Path(top.stdout.strip()).resolve())
    except ValueError:
        return None
    done = subprocess.run(
        ["git", "-C", top.stdout.strip(), "show", f"HEAD:{relative.as_posix()}"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return done.stdout if done.returncode == 0 else None


def stub_from_git(path: Path, name: str) -> str:
    """The learner file `path` (`name` as exercises.toml writes it) as committed: the stub."""
    if shutil.which("git") is None:
        raise WorkbookError(
            "git is not installed, and reset restores the stub from the git history.",
            "install git, or copy the file from the workbook's repository online.",
        )
    done = subprocess.run(
        ["git", "-C", str(path.parent), "show", f"HEAD:./{path.name}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise WorkbookError(
            f"git has no committed copy of {name} ({done.stderr.strip()}).",
            "reset needs the workbook as a git clone; clone it again, or copy the stub from"
            " the repository online.",
        )
    return done.stdout
