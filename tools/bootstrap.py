"""Create .venv and install the locked dependencies: the one set-up step behind every make target.

Runs with the standard library only, so a fresh clone needs nothing but python3 >= 3.10, make
and git. The rules, so that a workshop's dead Wi-Fi never stops `make lab`:
- The stamp (.venv/.installed) records the interpreter .venv was built with and a digest of
  requirements.lock and pyproject.toml. When the digest matches, nothing is installed and
  nothing touches the network.
- `make install PY=python3.12` (the Makefile passes --python-given) rebuilds .venv when it was
  built with another interpreter; without PY= the interpreter of .venv is kept, whatever
  `python3` is today. Only .venv is rebuilt: exercises/ and .workbook/ (progress) stay.
- When the lock changed, packages come from uv's cache first (--offline), from the index only
  if the cache lacks one.
Every run also puts the project's JupyterLab settings into .venv and sets up the git filter
that keeps notebook outputs out of commits (both cheap and idempotent).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv"
PYTHON = VENV / "bin" / "python"
STAMP = VENV / ".installed"
LOCK = ROOT / "requirements.lock"
UV_VERSION = "0.13.9"  # the installer; pinned like everything else
MIN_PYTHON = (3, 10)
LAB_OVERRIDES = ROOT / "tools" / "jupyter" / "overrides.json"
LAB_SETTINGS = Path("share", "jupyter", "lab", "settings", "overrides.d", "workbook.json")
# nbstripout strips outputs, counts and saved widget state (metadata.widgets: the progress bars
# stay in the file on disk, not in git) by default; JupyterLab also writes language_info (with
# the Python version) on every save. --keep-id: the committed cell ids stay as they are.
FILTER = '.venv/bin/nbstripout --keep-id --extra-keys "metadata.language_info"'


def fail(what: str, fix: str) -> None:
    sys.exit(f"\nbootstrap: {what}\n  fix: {fix}\n")


def attempt(*cmd: str | Path) -> bool:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    return subprocess.call([str(c) for c in cmd], cwd=ROOT) == 0


def run(*cmd: str | Path) -> None:
    if not attempt(*cmd):
        fail(
            f"`{' '.join(str(c) for c in cmd)}` failed (see the lines above).",
            "check your network or proxy (HTTPS_PROXY), then run the same make command again;"
            " `make clean` starts over from nothing.",
        )


def cache_first(*cmd: str | Path) -> None:
    """Run a uv command from the cache alone; go to the index only if that fails."""
    if not attempt(*cmd, "--offline"):
        print("(not everything is in uv's cache: asking the package index)", flush=True)
        run(*cmd)


def this_python() -> dict[str, str]:
    return {"python": os.path.realpath(sys.executable), "version": platform.python_version()}


def inputs_digest() -> str:
    digest = hashlib.sha256()
    for path in (LOCK, ROOT / "pyproject.toml"):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def read_stamp() -> dict[str, str]:
    try:
        stamp = json.loads(STAMP.read_text())
    except (OSError, ValueError):
        return {}
    return stamp if isinstance(stamp, dict) else {}


def built_with() -> dict[str, str]:
    """The interpreter .venv was built with: the stamp's record, else pyvenv.cfg's."""
    stamp = read_stamp()
    if "python" in stamp:
        return {"python": stamp["python"], "version": stamp.get("version", "")}
    try:
        lines = (VENV / "pyvenv.cfg").read_text().splitlines()
    except OSError:
        return {}
    cfg = dict(line.split(" = ", 1) for line in lines if " = " in line)
    executable = cfg.get("executable", "")
    return {
        "python": os.path.realpath(executable) if executable else "",
        "version": cfg.get("version", cfg.get("version_info", "")),
    }


def check_python() -> None:
    if sys.version_info < MIN_PYTHON:
        fail(
            f"Python {platform.python_version()} is too old; the workbook needs 3.10 or newer.",
            "install Python 3.11 or 3.12 and run `make install PY=python3.12`.",
        )
    if os.name == "nt":
        fail(
            "Windows is not supported natively (Celery does not support it; RQ needs fork()).",
            "use WSL2 (Ubuntu) and run the same command there.",
        )


def needs_rebuild(python_given: bool) -> str:
    """Why .venv must be built again ("" if it must not)."""
    if not PYTHON.exists():
        return f"no {VENV.name} yet"
    if python_given:
        was, now = built_with(), this_python()
        if was.get("version") != now["version"] or was.get("python") not in ("", now["python"]):
            return (
                f"{VENV.name} has Python {was.get('version') or '?'}; PY= asks for"
                f" {now['version']} ({now['python']})"
            )
    return ""


def install(rebuild: str) -> None:
    if rebuild:
        check_python()
        print(
            f"Creating {VENV.name} with Python {platform.python_version()}: {rebuild}", flush=True
        )
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    uv = VENV / "bin" / "uv"
    version = (
        subprocess.run([uv, "--version"], capture_output=True, text=True).stdout
        if (uv.exists())
        else ""
    )
    if UV_VERSION not in version.split():
        run(PYTHON, "-m", "pip", "install", "--quiet", f"uv=={UV_VERSION}")
    cache_first(uv, "pip", "sync", "--quiet", "--compile-bytecode", "--python", PYTHON, LOCK)
    cache_first(uv, "pip", "install", "--quiet", "--python", PYTHON, "--no-deps", "-e", ".")
    # A kernelspec inside .venv, so Jupyter (with JUPYTER_PREFER_ENV_PATH=1) never picks a
    # `python3` kernel of another Python from the user's home directory.
    run(
        PYTHON,
        "-m",
        "ipykernel",
        "install",
        "--sys-prefix",
        "--name",
        "python3",
        "--display-name",
        "Python 3 (workbook)",
    )


def jupyterlab_settings(prefix: Path = VENV) -> None:
    """The project's JupyterLab defaults (widget state saved, no news pop-up) into .venv."""
    target = prefix / LAB_SETTINGS
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists() or target.read_bytes() != LAB_OVERRIDES.read_bytes():
        shutil.copyfile(LAB_OVERRIDES, target)


def git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)


def git_filter(verbose: bool) -> None:
    """nbstripout as this clone's git filter (.gitattributes, committed, names it for *.ipynb).

    Skipped without git, outside a git clone, and in a linked worktree (whose config is its
    main clone's): the workbook runs the same, only `git status` then shows run notebooks.
    """
    if shutil.which("git") is None:
        return
    dirs = git("rev-parse", "--show-toplevel", "--git-dir", "--git-common-dir")
    if dirs.returncode != 0:
        return
    top, git_dir, common = dirs.stdout.splitlines()
    if Path(top).resolve() != ROOT:
        return  # the workbook sits inside someone else's repository: leave its config alone
    if (ROOT / git_dir).resolve() != (ROOT / common).resolve():
        if verbose:
            print("(a linked git worktree shares its clone's config: the notebook filter is"
                  " left to the main clone's `make install`)", flush=True)  # fmt: skip
        return
    for key, value in (
        ("filter.nbstripout.clean", FILTER),
        ("filter.nbstripout.smudge", "cat"),
    ):
        if git("config", "--local", "--get", key).stdout.strip() != value:
            git("config", "--local", key, value)


def main(argv: list[str]) -> None:
    if "--lab-settings-only" in argv:  # the conda route: into the running environment
        jupyterlab_settings(Path(sys.prefix))
        return
    rebuild = needs_rebuild(python_given="--python-given" in argv)
    stamp = read_stamp()
    complete = not rebuild and stamp.get("inputs") == inputs_digest()
    if not complete:
        install(rebuild)
        record = this_python() if rebuild else built_with()
        STAMP.write_text(json.dumps({**record, "inputs": inputs_digest()}))
    jupyterlab_settings()
    git_filter(verbose=not complete)
    if not complete:
        print(f"Environment ready in {VENV.name} (Python {read_stamp()['version']})", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
