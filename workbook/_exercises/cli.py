"""The exercise commands of `workbook`: exercises, check, hint, solution, reset, watch.

Exit codes (scripts and CI rely on them) are the verdict's own (model.Verdict.exit_code; of
several checks, model.Verdict.overall's); an error (an unknown id, a bad exercises.toml)
prints its fix and exits with model.ERROR_EXIT.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .._display import table
from .._errors import WorkbookError
from . import view
from .check import check
from .files import label
from .model import ERROR_EXIT, Meta, Verdict, get, load, metadata_path
from .progress import progress_rows, progress_summary, reset_file, take_hint
from .result import CheckResult

WATCH_INTERVAL = 0.5  # seconds between looks at the learner files' modification times
NO_EXERCISES = "No exercises yet."
EXIT_CODES = ", ".join(f"{v.exit_code} {v}" for v in sorted(Verdict, key=lambda v: v.exit_code))


def register(commands: Any) -> None:
    """Add the exercise subcommands to the parser's subparsers object."""
    parser = commands.add_parser("exercises", help="list the exercises and your progress")
    parser.add_argument("--json", action="store_true", help="print the list as JSON")
    parser.set_defaults(run=_friendly(_run_exercises))

    parser = commands.add_parser("check", help=f"check an exercise, or all (exit {EXIT_CODES})")
    parser.add_argument("id", nargs="?", help="exercise id, such as ex01 (default: all)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--solution", action="store_true", help="check the solution instead")
    where.add_argument("--tree", help="check the module in this folder instead")
    parser.set_defaults(run=_friendly(_run_check))

    parser = commands.add_parser("hint", help="the next hint for an exercise, or hint N")
    parser.add_argument("id", help="exercise id, such as ex01")
    parser.add_argument("n", nargs="?", type=int, help="which hint (default: the next one)")
    parser.set_defaults(run=_friendly(_run_hint))

    parser = commands.add_parser("solution", help="show the solution file (a spoiler)")
    parser.add_argument("id", help="exercise id, such as ex01")
    parser.set_defaults(run=_friendly(_run_solution))

    parser = commands.add_parser("reset", help="put the untouched stub back (from git)")
    parser.add_argument("id", help="exercise id, such as ex01")
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    parser.set_defaults(run=_friendly(_run_reset))

    parser = commands.add_parser("watch", help="re-check an exercise every time you save it")
    parser.add_argument("id", nargs="?", help="exercise id (default: watch every exercise)")
    parser.set_defaults(run=_friendly(_run_watch))


def _friendly(command: Callable[[argparse.Namespace], int]) -> Callable[..., int]:
    """A WorkbookError becomes its message and fix on stderr, and ERROR_EXIT."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except WorkbookError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return ERROR_EXIT
        except KeyboardInterrupt:
            print("\nInterrupted.", file=sys.stderr)
            return 130

    return run


def _run_exercises(args: argparse.Namespace) -> int:
    rows = progress_rows()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print(f"{NO_EXERCISES} ({label(metadata_path())} lists none.)")
        return 0
    table(rows, ["id", "status", "title", "file"])
    print(f"\n{progress_summary(rows, 'workbook check {id}')}")
    return 0


def _tree(meta: Meta, args: argparse.Namespace) -> Path | None:
    if args.solution:
        return meta.solution_path.parent
    return Path(args.tree).resolve() if args.tree else None


def _run_check(args: argparse.Namespace) -> int:
    if args.id:
        meta = get(args.id)
        # A shell command is a new Python: the server it forks from outlives it (shared).
        result = check(meta, _tree(meta, args), quick=True, shared=True)
        print(result)
        return result.exit_code
    metas = load()
    if not metas:
        print(NO_EXERCISES)
        return 0
    results: list[CheckResult] = []
    for meta in metas:
        print(f"Checking {meta.id}: {meta.title} …", flush=True)
        result = check(meta, _tree(meta, args), quick=True, shared=True)
        print(result, end="\n\n", flush=True)
        results.append(result)
    return _summary(results)


def _summary(results: list[CheckResult]) -> int:
    rows = [
        {
            "id": r.id,
            "verdict": str(r.verdict),
            "passed/ran": f"{r.passed}/{r.ran}",  # pytest stops at the first failure
            "time": f"{r.duration:.1f} s",
            "title": r.title,
        }
        for r in results
    ]
    table(rows, ["id", "verdict", "passed/ran", "time", "title"])
    counts = {v: sum(r.verdict is v for r in results) for v in Verdict}
    print(
        f"\n{counts[Verdict.CORRECT]}/{len(results)} correct, {counts[Verdict.INCORRECT]}"
        f" incorrect, {counts[Verdict.NOT_ATTEMPTED]} not attempted."
    )
    return Verdict.overall(r.verdict for r in results).exit_code


def _run_hint(args: argparse.Namespace) -> int:
    meta = get(args.id)
    print(meta.hint(take_hint(meta, args.n)).plain(f"workbook solution {meta.id}"))
    return 0


def _run_solution(args: argparse.Namespace) -> int:
    meta = get(args.id)
    source = meta.solution_source()
    if sys.stdout.isatty():
        try:
            from pygments import highlight
            from pygments.formatters import TerminalFormatter
            from pygments.lexers import PythonLexer

            source = highlight(source, PythonLexer(), TerminalFormatter())
        except ImportError:  # pragma: no cover - jupyterlab brings pygments
            pass
    print(view.solution_text(meta.solution, source))
    return 0


def _run_reset(args: argparse.Namespace) -> int:
    meta = get(args.id)
    if not args.yes:
        if not sys.stdin.isatty():
            print(
                f"reset overwrites {meta.file} with the untouched stub. Nothing was changed:"
                f" run `workbook reset {meta.id} --yes` to confirm.",
                file=sys.stderr,
            )
            return ERROR_EXIT
        answer = input(f"Overwrite {meta.file} with the stub? (a copy of yours is kept) [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("Nothing changed.")
            return 1
    backup = reset_file(meta)
    print(f"{meta.file} is the stub again.")
    if backup is not None:
        print(f"Your version was saved as {backup}.")
    return 0


def _stamp(path: Path) -> tuple[int, int]:
    try:
        info = path.stat()
    except OSError:
        return (0, 0)
    return (info.st_mtime_ns, info.st_size)


def _run_watch(args: argparse.Namespace) -> int:
    metas = [get(args.id)] if args.id else load()
    if not metas:
        print(NO_EXERCISES)
        return 0
    stamps = {m.id: _stamp(m.file_path) for m in metas}
    names = ", ".join(m.file for m in metas)
    print(f"Watching {names}: every save re-checks. Ctrl-C to stop.", flush=True)
    try:
        if args.id:
            print(check(metas[0], quick=True), flush=True)
        while True:
            time.sleep(WATCH_INTERVAL)
            for meta in metas:
                stamp = _stamp(meta.file_path)
                if stamp != stamps[meta.id]:
                    stamps[meta.id] = stamp
                    print(f"\n{meta.file} changed: checking {meta.id} …", flush=True)
                    print(check(meta, quick=True), flush=True)
    except KeyboardInterrupt:
        print("\nStopped watching.", flush=True)
    return 0
