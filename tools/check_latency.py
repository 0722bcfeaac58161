"""Print how long a check takes, per exercise: wall time, the tests' own time, the overhead.

    .venv/bin/python tools/check_latency.py                       # every exercise, both paths
    .venv/bin/python tools/check_latency.py --only ex01,ex05 --paths kernel

Three learner files per exercise: the untouched stub (exercises/, "not attempted"), the stub
with a syntax error, and the solution ("correct"), each checked through the learner's real
paths: `wb.exercise("exNN").check()` in this one long-lived process (as in a kernel), and the
shell's `workbook check exNN`. The syntax-broken and solved files are copies in a temp folder,
named by a private copy of exercises.toml; progress goes to a private file.

"tests" is the time pytest spent inside the exercise's tests (set-up, call, tear-down: the
Redis, the server, the workers and the waits the exercise itself needs), reported by the
checker's plugin; for the shell it is the kernel's figure for the same file. "overhead" is
the rest: starting processes, imports, collection, clean-up, the verdict. A starred verdict
ran in the kernel's warm check server (the first such check also starts it: its row pays the
server's imports). The shell's checks take the quick verdicts (stub, syntax) and fork the
rest from the repository's shared server (workbook._exercises.shared_server), which outlives
each command; the first shell check that needs it starts it (run with --cold-shell to stop it
first, and see that start in the first row).

Figures, not assertions (a busy machine is slower). Targets (issue 12): "not attempted" and
syntax-error verdicts within 0.5 s; correct or incorrect within 1 s plus the tests' own time.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import workbook as wb  # noqa: E402
from workbook._exercises import shared_server  # noqa: E402
from workbook._exercises.files import committed  # noqa: E402
from workbook._exercises.model import Meta, load  # noqa: E402

CASES = ("stub", "syntax", "solution")
BROKEN = "\n\ndef broken(:  # a syntax error, added by tools/check_latency.py\n    pass\n"
VERDICTS = {0: "correct", 1: "incorrect", 3: "not attempted"}


def _toml(metas: list[Meta], folder: Path) -> Path:
    """A copy of exercises.toml whose learner files are those in `folder`."""
    lines = []
    for meta in metas:
        fields = {
            "id": meta.id,
            "title": meta.title,
            "notebook": str(ROOT / meta.notebook),
            "file": str(folder / Path(meta.file).name),
            "solution": str(meta.solution_path),
            "tests": str(meta.tests_path),
        }
        lines.append("[[exercise]]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in fields.items()]
        lines.append(f"timeout = {meta.timeout:g}")
        lines.append(f"hints = {json.dumps(list(meta.hints))}")
        lines.append("")
    path = folder / "exercises.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _prepare(metas: list[Meta], workdir: Path) -> dict[str, Path | None]:
    """The metadata file of each case (None: the repository's own, for the stub)."""
    syntax, solved = workdir / "syntax", workdir / "solution"
    syntax.mkdir()
    solved.mkdir()
    for meta in metas:
        name = Path(meta.file).name
        stub = meta.file_path.read_text(encoding="utf-8")
        if committed(meta.file_path) not in (None, stub):
            print(f"note: {meta.file} differs from git's copy: its 'stub' row is your file")
        (syntax / name).write_text(stub + BROKEN, encoding="utf-8")
        shutil.copy2(meta.solution_path, solved / name)
    return {"stub": None, "syntax": _toml(metas, syntax), "solution": _toml(metas, solved)}


def _in_kernel(meta: Meta, metadata: Path | None) -> tuple[str, float, float]:
    """(verdict, wall seconds, seconds inside the tests) of `wb.exercise(id).check()`;
    the verdict is starred when the tests ran in the warm check server."""
    handle = wb.exercise(meta.id, metadata=metadata)
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # its "Checking ..." line
        result = handle.check()
    star = "*" if getattr(result, "warm", False) else ""
    return f"{result.verdict}{star}", time.perf_counter() - started, result.tests_time


def _in_shell(meta: Meta, metadata: Path | None, env: dict[str, str]) -> tuple[str, float]:
    """(verdict, wall seconds) of `workbook check exNN` in a fresh shell command."""
    if metadata is not None:
        env = {**env, "WORKBOOK_EXERCISES_FILE": str(metadata)}
    command = [str(Path(sys.executable).with_name("workbook")), "check", meta.id]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, check=False)
    wall = time.perf_counter() - started
    return VERDICTS.get(done.returncode, f"exit {done.returncode}"), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="comma-separated ids (default: every exercise)")
    parser.add_argument("--paths", default="kernel,shell", help="kernel, shell or both")
    parser.add_argument("--cases", default=",".join(CASES), help="stub, syntax, solution")
    parser.add_argument("--cold-shell", action="store_true", help="stop the shell's server first")
    args = parser.parse_args()
    if args.cold_shell:
        shared_server.stop_all()
    metas = load()
    if args.only:
        wanted = {wb_id.strip() for wb_id in args.only.split(",")}
        metas = [m for m in metas if m.id in wanted]
    paths, cases = args.paths.split(","), args.cases.split(",")
    workdir = Path(tempfile.mkdtemp(prefix="check-latency-"))
    os.environ["WORKBOOK_PROGRESS_FILE"] = str(workdir / "progress.json")
    env = dict(os.environ)
    rows: list[dict[str, object]] = []
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    first = time.perf_counter()
    try:
        metadata = _prepare(metas, workdir)
        for meta in metas:
            for case in cases:
                tests = 0.0
                if "kernel" in paths:
                    verdict, wall, tests = _in_kernel(meta, metadata[case])
                    rows.append(_row(meta, case, "kernel", verdict, wall, tests))
                    print(_line(rows[-1]), flush=True)
                if "shell" in paths:
                    verdict, wall = _in_shell(meta, metadata[case], env)
                    rows.append(_row(meta, case, "shell", verdict, wall, tests))
                    print(_line(rows[-1]), flush=True)
    finally:
        wb.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"load average at end: {os.getloadavg()[0]:.1f}; {time.perf_counter() - first:.0f} s")
    _summary(rows)


def _row(meta: Meta, case: str, path: str, verdict: str, wall: float, tests: float) -> dict:
    return {
        "id": meta.id,
        "case": case,
        "path": path,
        "verdict": verdict,
        "wall": wall,
        "tests": tests,
        "overhead": wall - tests,
    }


HEADER = (
    f"{'id':5} {'case':9} {'path':7} {'verdict':14} {'wall s':>7} {'tests s':>8} {'overhead s':>10}"
)


def _line(row: dict) -> str:
    if not _line.__dict__.get("shown"):
        _line.__dict__["shown"] = True
        print(HEADER)
    return (
        f"{row['id']:5} {row['case']:9} {row['path']:7} {row['verdict']:14}"
        f" {row['wall']:7.2f} {row['tests']:8.2f} {row['overhead']:10.2f}"
    )


def _summary(rows: list[dict]) -> None:
    print("\nmedian (max) overhead per case and path, seconds:")
    for case in CASES:
        for path in ("kernel", "shell"):
            picked = [r["overhead"] for r in rows if r["case"] == case and r["path"] == path]
            if picked:
                print(
                    f"  {case:9} {path:7} {statistics.median(picked):5.2f}"
                    f" ({max(picked):.2f}) over {len(picked)} exercises"
                )


if __name__ == "__main__":
    main()
