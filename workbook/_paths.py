"""Where things are: the repository root, run-time files, and the import path of an object."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def runtime_dir() -> Path:
    """A private temp folder for this kernel's logs and server files (removed by the OS)."""
    base = Path(tempfile.gettempdir()) / f"workbook-{os.getuid()}"
    base.mkdir(exist_ok=True, mode=0o700)  # 0700 whatever the umask (parents=True would not)
    path = base / str(os.getpid())
    path.mkdir(exist_ok=True, mode=0o700)
    return path


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a child process: ours, plus the repo and cwd on PYTHONPATH."""
    env = dict(os.environ)
    paths = [str(ROOT), os.getcwd(), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def import_path(obj: object, what: str) -> str:
    """Return "module:attr" under which a child process can import `obj`.

    Objects made in a notebook cell live in __main__, which no other process can import:
    the error says to move them into a module, as the teaching code does.
    """
    if isinstance(obj, str):
        return obj
    if isinstance(obj, ModuleType):
        return obj.__name__
    for name, module in sorted(sys.modules.items(), key=_project_first):
        if name == "__main__" or module is None or name.startswith("_"):
            continue
        try:
            items = list(vars(module).items())
        except TypeError:
            continue
        for attr, value in items:
            if value is obj and not attr.startswith("_"):
                return f"{name}:{attr}"
    raise_no_path(what)
    raise AssertionError  # unreachable


def _project_first(item: tuple[str, object]) -> int:
    """Modules of this project (or the cwd) first: libraries keep references too
    (celery._state.default_app is the app a worker last started), and a child process
    must import the project's own module, not a library's alias."""
    file = getattr(item[1], "__file__", None) or ""
    return 0 if file.startswith((str(ROOT), os.getcwd())) and ".venv" not in file else 1


def raise_no_path(what: str) -> None:
    from ._errors import WorkbookError

    raise WorkbookError(
        f"A separate process cannot import this {what}: it was not found in any importable"
        " module (objects defined in a notebook cell live in __main__, which other processes"
        " cannot import).",
        f"put the {what} in a module (as app_snippets/ does) and pass its path as a string,"
        ' for example "app_snippets.ch00_setup.slow_report:app", or leave out process=True to run'
        " it in a thread of this kernel.",
    )
