"""The exercises in a notebook: `ex = wb.exercise("ex01")` gives check / hint / solution /
reset (learntools' problem view), and `wb.exercises()` lists them with your progress."""

from __future__ import annotations

from pathlib import Path

from .._display import table
from . import view
from .check import check
from .files import label
from .model import Meta, Verdict, get
from .progress import progress_rows, progress_summary, reset_file, status, take_hint
from .result import CheckResult


class Exercise:
    """An exercise in a notebook: `check()`, `hint()`, `hint(n)`, `solution()`, `reset()`."""

    def __init__(self, meta: Meta) -> None:
        self.meta = meta

    @property
    def id(self) -> str:
        return self.meta.id

    @property
    def status(self) -> Verdict:
        """From the progress file: "correct", "incorrect" or "not attempted"."""
        return status(self.id)

    def check(self) -> CheckResult:
        """Run the tests on your file in a fresh process; the verdict renders in the notebook."""
        limit = f"{self.meta.timeout:g}"
        print(f"Checking {self.id} in a fresh process (time limit {limit} s)…", flush=True)
        return check(self.meta, quick=True)

    def hint(self, number: int | None = None) -> view.Shown:
        """The next hint, or hint `number` (counting from 1)."""
        shown = self.meta.hint(take_hint(self.meta, number))
        return view.hint(shown, f'`wb.exercise("{self.id}").solution()`')

    def solution(self) -> view.Shown:
        """A spoiler warning, then the solution file: the very file the checks run."""
        return view.solution(self.meta.solution, self.meta.solution_source())

    def reset(self) -> view.Shown:
        """Put the untouched stub back (from git); your version is copied to .workbook/backups/."""
        backup = reset_file(self.meta)
        text = f"{self.meta.file} is the stub again."
        if backup is not None:
            text += f" Your version was saved as {label(backup)}."
        return view.note(text)

    def __repr__(self) -> str:
        return f"<Exercise {self.id}: {self.meta.title} ({self.status})>"


def exercise(exercise_id: str | int, metadata: Path | str | None = None) -> Exercise:
    """The exercise `exercise_id` ("ex01"), from exercises/exercises.toml."""
    return Exercise(get(exercise_id, metadata))


def exercises() -> None:
    """Every exercise with your progress, and the next one to do."""
    rows = progress_rows()
    table(
        rows,
        ["id", "status", "title", "notebook", "file"],
        colour={r["id"]: view.SHADE.get(Verdict(r["status"]), "") for r in rows},
    )
    print(progress_summary(rows, 'wb.exercise("{id}").check()'))
