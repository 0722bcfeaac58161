"""`workbook lab` (what `make lab` runs): JupyterLab as the workbook needs it, in one place.

The browser test starts the server through the same `command()` and `environment()`, so what
it proves is what a learner gets: the repository as the server's root (exercises/, solutions/
and the README open from the notebooks' links), notebook 00 as the URL's landing page,
127.0.0.1 with the token kept, and .venv first on PATH for the server and its Terminal.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from ._paths import ROOT

FIRST_NOTEBOOK = "notebooks/00_setup.ipynb"
BIN = Path(sys.prefix) / "bin"
TERMINAL_RC = ROOT / "tools" / "jupyter" / "terminal_bashrc"


def command(*extra: str) -> list[str]:
    """The `jupyter lab` command line; `extra` are more Jupyter options (`--port=9999`)."""
    args = [
        str(BIN / "jupyter"),
        "lab",
        f"--ServerApp.root_dir={ROOT}",
        "--ServerApp.ip=127.0.0.1",
        f"--LabApp.default_url=/lab/tree/{FIRST_NOTEBOOK}",
        f"--FileContentsManager.post_save_hook={__name__}.after_save",
    ]
    if os.getuid() == 0:  # JupyterLab refuses root without it; learners rarely are root
        args.append("--allow-root")
    shell = _terminal_shell()
    if shell:
        args.append(f"--ServerApp.terminado_settings={{'shell_command': {shell!r}}}")
    return [*args, *extra]


def environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """The server's environment: .venv/bin first, and Jupyter's paths from .venv first."""
    env = dict(os.environ if base is None else base)
    env["PATH"] = os.pathsep.join([str(BIN), *filter(None, env.get("PATH", "").split(os.pathsep))])
    env["WORKBOOK_VENV_BIN"] = str(BIN)  # read by the Terminal's rc file
    env["JUPYTER_PREFER_ENV_PATH"] = "1"  # our kernelspec and settings, not the home folder's
    return env


def _terminal_shell() -> list[str] | None:
    """bash reading the user's rc files and then putting .venv/bin first; None keeps Jupyter's
    default (the user's own non-bash shell, which gets .venv/bin first from the server)."""
    bash = shutil.which("bash")
    user_shell = Path(os.environ.get("SHELL", "bash")).name
    if bash is None or user_shell not in {"bash", "sh", "dash"}:
        return None
    return [bash, "--rcfile", str(TERMINAL_RC), "-i"]


def after_save(model: dict[str, Any], os_path: str, **_: Any) -> None:
    """JupyterLab's post-save hook: see refresh_git_index (in a thread: saving never waits)."""
    if model.get("type") == "notebook":
        threading.Thread(target=refresh_git_index, args=(Path(os_path),), daemon=True).start()


def refresh_git_index(path: Path) -> None:
    """Let git see a saved notebook whose only changes are outputs as unchanged.

    The nbstripout filter (make install) strips outputs, so `git diff` shows nothing; but git
    trusts a changed file size over the filter, so `git status` would list the notebook and
    `git pull` would refuse to update it. `git add` of content the filter makes identical to
    the index changes nothing but that size record. A real edit (a cell the learner wrote) or
    an untracked notebook is left alone, and so is everything when git or the filter is absent.
    """
    # `git add` fails while another git command (a `git status` in a terminal) holds the
    # index's lock: try again, a few times, as long as the notebook still has no real edit.
    script = (
        'git ls-files --error-unmatch -- "$1" >/dev/null 2>&1'
        " && git config filter.nbstripout.clean >/dev/null || exit 0\n"
        "for attempt in 1 2 3 4 5 6 7 8 9 10; do\n"
        '  git diff --quiet -- "$1" || exit 0\n'
        '  git add -- "$1" 2>/dev/null && exit 0\n'
        "  sleep 1\n"
        "done\n"
    )
    # No git, or a very slow filter: git status may list the notebook, nothing worse.
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        subprocess.run(
            ["sh", "-c", script, "sh", path.name],
            cwd=path.parent,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=120,
        )


def run(extra: list[str]) -> None:
    """Become the JupyterLab server (exec: Ctrl-C and its shutdown question go to Jupyter)."""
    if not (BIN / "jupyter").exists():
        from ._errors import WorkbookError

        raise WorkbookError(
            f"JupyterLab is not installed in {sys.prefix}.",
            "run `make lab` from the repository's folder: it installs .venv first.",
        )
    args = command(*extra)
    os.chdir(ROOT)
    os.execve(args[0], args, environment())
