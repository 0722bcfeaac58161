"""The exercise model: the three verdicts and their exit codes, and the list of exercises
(exercises/exercises.toml), validated.

One metadata file lists every exercise, so the checker, the CLI, CI and the README all agree
(rustlings' info.toml). Nothing here runs tests, records progress or displays anything.
"""

from __future__ import annotations

import enum
import os
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._errors import WorkbookError
from .._paths import ROOT
from .files import committed

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

METADATA_ENV = "WORKBOOK_EXERCISES_FILE"  # another metadata file (the checker's own tests)
DEFAULT_TIMEOUT = 60.0
_FIELDS = {"id", "title", "notebook", "file", "solution", "tests", "timeout", "hints", "needs"}
_REQUIRED = ("id", "title", "notebook", "file", "solution", "tests", "hints")
_ID = re.compile(r"ex\d{2}")
ERROR_EXIT = 2  # the CLI's exit code for an error (an unknown id, a bad exercises.toml)


class Verdict(str, enum.Enum):
    """The three verdicts (learntools); each owns the CLI's exit code."""

    NOT_ATTEMPTED = "not attempted"
    INCORRECT = "incorrect"
    CORRECT = "correct"

    def __str__(self) -> str:
        return self.value

    @property
    def exit_code(self) -> int:
        """The CLI's exit code: correct 0, incorrect 1, not attempted 3."""
        return _EXIT_CODES[self]

    @classmethod
    def overall(cls, verdicts: Iterable[Verdict]) -> Verdict:
        """Of several checks: correct if all are, incorrect if any is, else not attempted."""
        seen = set(verdicts)
        if seen <= {cls.CORRECT}:
            return cls.CORRECT
        return cls.INCORRECT if cls.INCORRECT in seen else cls.NOT_ATTEMPTED


_EXIT_CODES = {Verdict.CORRECT: 0, Verdict.INCORRECT: 1, Verdict.NOT_ATTEMPTED: 3}


@dataclass(frozen=True)
class Meta:
    """One `[[exercise]]` table, validated. Paths are kept as written and resolved on demand."""

    id: str
    title: str
    notebook: str
    file: str
    solution: str
    tests: str
    hints: tuple[str, ...]
    timeout: float = DEFAULT_TIMEOUT
    needs: tuple[str, ...] = ()

    @property
    def file_path(self) -> Path:
        return ROOT / self.file

    @property
    def solution_path(self) -> Path:
        return ROOT / self.solution

    @property
    def tests_path(self) -> Path:
        return ROOT / self.tests

    @property
    def module(self) -> str:
        """The import name the tests use: the learner file's name without .py."""
        return Path(self.file).stem

    def solution_source(self) -> str:
        return self.solution_path.read_text(encoding="utf-8")

    def hint(self, number: int) -> Hint:
        """Hint `number` (counting from 1), or an error naming the range."""
        total = len(self.hints)
        if not 1 <= number <= total:
            raise WorkbookError(
                f"{self.id} has {total} hints; there is no hint {number}.",
                f"ask for a hint from 1 to {total}.",
            )
        title = f"Hint {number} of {total} for {self.id}"
        return Hint(title, self.hints[number - 1], last=number == total)


@dataclass(frozen=True)
class Hint:
    """One hint: "Hint 2 of 3 for ex01", its Markdown text, and whether it is the last."""

    title: str
    text: str
    last: bool

    def closing(self, how_to_solution: str) -> str:
        """What follows the last hint: where the solution is (empty after any other)."""
        return f"(That was the last hint. The solution: {how_to_solution}.)" if self.last else ""

    def plain(self, how_to_solution: str) -> str:
        closing = self.closing(how_to_solution)
        return f"{self.title}: {self.text}" + (f"\n{closing}" if closing else "")


def metadata_path() -> Path:
    return Path(os.environ.get(METADATA_ENV) or ROOT / "exercises" / "exercises.toml")


def load(path: Path | str | None = None) -> list[Meta]:
    """Every exercise in the metadata file, validated; an error names the entry and field."""
    path = Path(path) if path else metadata_path()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WorkbookError(
            f"The exercise list {path} does not exist.",
            "restore exercises/exercises.toml from git (`git checkout -- exercises`).",
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise WorkbookError(f"{path} is not valid TOML: {exc}.", "fix the line named.") from None
    entries = data.get("exercise", [])
    if not isinstance(entries, list):
        raise WorkbookError(f"{path}: 'exercise' must be [[exercise]] tables.", "see the header.")
    metas: list[Meta] = []
    for number, entry in enumerate(entries, start=1):
        meta = _validate(entry, number, path)
        if metas and meta.id <= metas[-1].id:
            raise WorkbookError(
                f"{path}: exercise {meta.id} (entry {number}) comes after {metas[-1].id}:"
                " field 'id' must be unique and in increasing order.",
                "renumber the ids, or move the entry to its place.",
            )
        metas.append(meta)
    return metas


def _validate(entry: Any, number: int, path: Path) -> Meta:
    where = f"{path}: exercise {entry.get('id', '?')} (entry {number})"

    def bad(field: str, problem: str, fix: str = "") -> WorkbookError:
        return WorkbookError(
            f"{where}: field '{field}' {problem}.",
            fix or f"edit that entry in {path.name}; its header documents every field.",
        )

    unknown = sorted(set(entry) - _FIELDS)
    if unknown:
        raise bad(unknown[0], "is not a known field", f"use only: {', '.join(sorted(_FIELDS))}.")
    for field in _REQUIRED:
        if field not in entry:
            raise bad(field, "is missing")
    for field in ("id", "title", "notebook", "file", "solution", "tests"):
        if not isinstance(entry[field], str) or not entry[field].strip():
            raise bad(field, "must be a non-empty string")
    if not _ID.fullmatch(entry["id"]):
        raise bad("id", f"is {entry['id']!r}, not of the form exNN (ex01, ex02, ...)")
    for field in ("notebook", "file", "solution", "tests"):
        path = ROOT / entry[field]
        # The learner file and the tests may have been deleted (by hand, or by learner code
        # in a check): git still has them, and `reset` (or the next check) restores them.
        if not path.is_file() and (field not in ("file", "tests") or committed(path) is None):
            raise bad(field, f"names {entry[field]}, which does not exist")
    file, solution = Path(entry["file"]), Path(entry["solution"])
    if file.suffix != ".py" or not file.stem.isidentifier():
        raise bad("file", f"is {file.name}: it must be an importable name ending in .py")
    if solution.name != file.name:
        raise bad("solution", f"is {solution.name}, but 'file' is {file.name}: use the same name")
    hints = entry["hints"]
    if not isinstance(hints, list) or len(hints) < 2:
        raise bad("hints", "needs at least two hints, from a nudge to nearly the answer")
    if not all(isinstance(h, str) and h.strip() for h in hints):
        raise bad("hints", "must hold only non-empty strings")
    timeout = entry.get("timeout", DEFAULT_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 900:
        raise bad("timeout", f"is {timeout!r}: give seconds, more than 0 and at most 900")
    needs = entry.get("needs", [])
    if not isinstance(needs, list) or not all(isinstance(n, str) for n in needs):
        raise bad("needs", 'must be a list of strings, such as ["redis", "celery"]')
    return Meta(
        id=entry["id"],
        title=entry["title"].strip(),
        notebook=entry["notebook"],
        file=entry["file"],
        solution=entry["solution"],
        tests=entry["tests"],
        hints=tuple(h.strip() for h in hints),
        timeout=float(timeout),
        needs=tuple(needs),
    )


def normalise_id(exercise_id: str | int) -> str:
    """ "ex01", "ex1", "01", "1" and 1 all mean ex01."""
    match = re.fullmatch(r"(?:ex)?0*(\d{1,2})", str(exercise_id).strip().lower())
    return f"ex{int(match.group(1)):02d}" if match else str(exercise_id)


def get(exercise_id: str | int, path: Path | str | None = None) -> Meta:
    """The exercise with this id, or an error listing the ids that exist."""
    wanted = normalise_id(exercise_id)
    metas = load(path)
    for meta in metas:
        if meta.id == wanted:
            return meta
    known = ", ".join(m.id for m in metas) or "none yet"
    raise WorkbookError(
        f"No exercise {wanted!r}. Known: {known}.",
        "use one of those ids; `workbook exercises` lists them with their titles.",
    )
