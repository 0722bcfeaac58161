"""Create .venv and install the locked dependencies: the one set-up step behind every make target.

Runs on the machine's own python3 with the standard library only, so a fresh clone needs
nothing but python3 >= 3.10, make and git. Re-running it is cheap: it does nothing when the
stamp file is newer than the lock file and pyproject.toml.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv"
STAMP = VENV / ".installed"
LOCK = ROOT / "requirements.lock"
UV_VERSION = "0.13.9"  # the installer; pinned like everything else
MIN_PYTHON = (3, 10)


def fail(what: str, fix: str) -> None:
    sys.exit(f"\nbootstrap: {what}\n  fix: {fix}\n")


def run(*cmd: str | Path) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    if subprocess.call([str(c) for c in cmd], cwd=ROOT) != 0:
        fail(
            f"`{' '.join(str(c) for c in cmd)}` failed (see the lines above).",
            "check your network or proxy (HTTPS_PROXY), then run the same make command again;"
            " `make clean` starts over from nothing.",
        )


def up_to_date() -> bool:
    if not STAMP.exists():
        return False
    newest_input = max(LOCK.stat().st_mtime, (ROOT / "pyproject.toml").stat().st_mtime)
    return STAMP.stat().st_mtime >= newest_input and STAMP.read_text() == sys.version


def main() -> None:
    if sys.version_info < MIN_PYTHON:
        fail(
            f"Python {sys.version.split()[0]} is too old; the workbook needs 3.10 or newer.",
            "install Python 3.11 or 3.12 and run `make PY=python3.12 lab`.",
        )
    if os.name == "nt":
        fail(
            "Windows is not supported natively (Celery does not support it; RQ needs fork()).",
            "use WSL2 (Ubuntu) and run the same command there.",
        )
    python = VENV / "bin" / "python"
    if up_to_date() and python.exists():
        return
    if not python.exists():
        print(f"Creating {VENV.name} with Python {sys.version.split()[0]}", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    run(python, "-m", "pip", "install", "--quiet", f"uv=={UV_VERSION}")
    uv = VENV / "bin" / "uv"
    run(uv, "pip", "sync", "--quiet", "--compile-bytecode", "--python", python, LOCK)
    run(uv, "pip", "install", "--quiet", "--python", python, "--no-deps", "-e", ".")
    # A kernelspec inside .venv, so Jupyter (with JUPYTER_PREFER_ENV_PATH=1) never picks a
    # `python3` kernel of another Python from the user's home directory.
    run(
        python,
        "-m",
        "ipykernel",
        "install",
        "--sys-prefix",
        "--name",
        "python3",
        "--display-name",
        "Python 3 (workbook)",
    )
    STAMP.write_text(sys.version)
    print("Environment ready in .venv", flush=True)


if __name__ == "__main__":
    main()
