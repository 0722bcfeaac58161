"""Check every exercise's stub, solution and wrong answers N times; report unstable verdicts.

A verdict must not depend on a race (issue 13): the stub reads "not attempted", the solution
"correct", and each wrong answer in tests/wrong_answers/exNN/<variant>/ "incorrect" with the
fragment its expected.txt states, every time. This runs each of them N times (round by round,
so that a slow moment of the machine spreads over all of them) and prints a table: the
verdicts seen, how often the fragment matched, the slowest check, and whether the row is
stable. Slow by design (minutes per round), so not part of `make test`:

    make verdicts N=10 ONLY=ex01..ex07 J=2
    .venv/bin/python tools/verdicts.py -n 3 --only ex05,ex07
    .venv/bin/python tools/verdicts.py -n 3 --only ex05 --cold

By default each check takes the learner's path, as `wb.exercise("exNN").check()` and
`workbook check` do: the quick verdicts, then the tests in a process forked by the warm check
server. `--cold` takes the dev check's path instead: no quick verdict, a fresh test process.

Exit status 0 when every row is stable and as expected, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# The checks of the stubs would record the verdicts in the learner's progress file: not here.
os.environ["WORKBOOK_PROGRESS_FILE"] = str(Path(tempfile.mkdtemp()) / "progress.json")

from workbook._exercises.check import check  # noqa: E402
from workbook._exercises.model import Meta, Verdict, load  # noqa: E402


@dataclass
class Case:
    """One folder to check, and what its verdict must be."""

    meta: Meta
    name: str
    tree: Path | None  # None: the learner's folder (the stub)
    verdict: Verdict
    fragment: str = ""
    seen: Counter = field(default_factory=Counter)
    matched: int = 0
    slowest: float = 0.0
    messages: Counter = field(default_factory=Counter)

    def record(self, verdict: Verdict, message: str, duration: float) -> None:
        self.seen[str(verdict)] += 1
        self.matched += self.fragment.lower() in message.lower()
        self.slowest = max(self.slowest, duration)
        if verdict is not self.verdict or self.fragment.lower() not in message.lower():
            self.messages[message[:160]] += 1

    @property
    def ok(self) -> bool:
        runs = sum(self.seen.values())
        return set(self.seen) == {str(self.verdict)} and self.matched == runs


def select(only: str | None) -> list[Meta]:
    """Every exercise, or those named: "ex01..ex07", "ex03,ex05", or both mixed."""
    metas = load()
    if not only:
        return metas
    ids = [m.id for m in metas]
    chosen: set[str] = set()
    for part in only.split(","):
        first, _, last = part.strip().partition("..")
        for name in filter(None, (first, last)):
            if name not in ids:
                sys.exit(f"--only: no exercise {name!r} (the ids are {ids[0]}..{ids[-1]}).")
        chosen |= set(ids[ids.index(first) : ids.index(last or first) + 1])
    return [m for m in metas if m.id in chosen]


def cases(metas: list[Meta]) -> list[Case]:
    found = []
    for meta in metas:
        found.append(Case(meta, "stub", None, Verdict.NOT_ATTEMPTED))
        found.append(Case(meta, "solution", meta.solution_path.parent, Verdict.CORRECT))
        for variant in sorted((ROOT / "tests" / "wrong_answers" / meta.id).glob("*/")):
            expected = variant / "expected.txt"
            fragment = expected.read_text(encoding="utf-8").strip() if expected.is_file() else ""
            name = variant.name if fragment else f"{variant.name} (no expected.txt)"
            found.append(Case(meta, name, variant, Verdict.INCORRECT, fragment or "\0"))
    return found


def run_one(case: Case, cold: bool = False) -> None:
    started = time.monotonic()
    result = check(case.meta.id, case.tree, quick=not cold, warm=not cold)
    case.record(result.verdict, result.message, time.monotonic() - started)


def report(all_cases: list[Case], rounds: int, took: float) -> bool:
    rows = [("exercise", "case", "expected", "verdicts seen", "fragment", "slowest", "")]
    for case in all_cases:
        seen = ", ".join(f"{v} x{n}" for v, n in sorted(case.seen.items()))
        fragment = f"{case.matched}/{sum(case.seen.values())}" if case.fragment else "-"
        status = "stable" if case.ok else "UNSTABLE" if len(case.seen) > 1 else "WRONG"
        rows.append((case.meta.id, case.name, str(case.verdict), seen, fragment,
                     f"{case.slowest:.1f} s", status))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for index, row in enumerate(rows):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
        if index == 0:
            print("  ".join("-" * width for width in widths))
    bad = [case for case in all_cases if not case.ok]
    for case in bad:
        saying = f" saying {case.fragment!r}" if case.fragment.strip("\0") else ""
        print(f"\n{case.meta.id} {case.name}: expected {case.verdict}{saying}; got:")
        for message, count in case.messages.most_common(5):
            print(f"  x{count}: {message}")
    print(
        f"\n{len(all_cases)} cases x {rounds} runs = {len(all_cases) * rounds} checks in"
        f" {took / 60:.1f} min; {len(bad)} unstable or wrong."
    )
    return not bad


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--runs", type=int, default=10, help="runs of each case")
    parser.add_argument("--only", help='exercises, e.g. "ex01..ex07" or "ex03,ex05"')
    parser.add_argument("-j", "--jobs", type=int, default=1, help="checks at the same time")
    parser.add_argument(
        "--cold", action="store_true", help="a fresh test process per check (the dev check's)"
    )
    args = parser.parse_args(argv)
    if args.runs < 1 or args.jobs < 1:
        parser.error("-n and -j must be at least 1")
    all_cases = cases(select(args.only))
    started = time.monotonic()
    with ThreadPoolExecutor(args.jobs) as pool:
        for number in range(1, args.runs + 1):
            round_started = time.monotonic()
            list(pool.map(lambda case: run_one(case, args.cold), all_cases))
            unstable = sum(not case.ok for case in all_cases)
            print(
                f"round {number}/{args.runs}: {len(all_cases)} checks in"
                f" {time.monotonic() - round_started:.0f} s; {unstable} unstable or wrong so far",
                flush=True,
            )
    print()
    return 0 if report(all_cases, args.runs, time.monotonic() - started) else 1


if __name__ == "__main__":
    sys.exit(main())
