"""The exercises: their metadata (exercises/exercises.toml), progress, and the notebook handle.

One metadata file lists every exercise, so the checker, the CLI, CI and the README all agree
(rustlings' info.toml). In a notebook, `ex = wb.exercise("ex01")` gives check / hint /
solution / reset (learntools' problem view).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._display import highlighted, markdown_inline, table
from ._errors import WorkbookError
from ._paths import ROOT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows, which the workbook does not support
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from ._checker import CheckResult

METADATA_ENV = "WORKBOOK_EXERCISES_FILE"  # another metadata file (the checker's own tests)
PROGRESS_ENV = "WORKBOOK_PROGRESS_FILE"  # another progress file (the same tests)
DEFAULT_TIMEOUT = 60.0
_FIELDS = {"id", "title", "notebook", "file", "solution", "tests", "timeout", "hints", "needs"}
_REQUIRED = ("id", "title", "notebook", "file", "solution", "tests", "hints")
_ID = re.compile(r"ex\d{2}")


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


# --- progress: .workbook/progress.json, git-ignored, one entry per exercise -------------------


def progress_path() -> Path:
    return Path(os.environ.get(PROGRESS_ENV) or ROOT / ".workbook" / "progress.json")


def read_progress() -> dict[str, dict[str, Any]]:
    """The progress file's entries; a missing or damaged file means no progress yet."""
    try:
        data = json.loads(progress_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, dict)} if isinstance(data, dict) else {}


def _write_progress(data: dict[str, dict[str, Any]]) -> None:
    path = progress_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)  # atomic: a reader never sees half a file


@contextlib.contextmanager
def _progress_lock() -> Iterator[None]:
    """One read-change-write of the progress file at a time, across processes (a check in
    the kernel and one in a shell may record at the same moment: without it, one is lost)."""
    path = progress_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "a") as lock:
        if fcntl is not None:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        yield  # closing the file releases the lock


def update_progress(exercise_id: str, **fields: Any) -> None:
    """Merge `fields` into the entry (None removes a field; no fields clears the entry)."""
    with _progress_lock():
        _update_progress(exercise_id, fields)


def _update_progress(exercise_id: str, fields: dict[str, Any]) -> None:
    data = read_progress()
    entry = data.get(exercise_id, {}) if fields else {}
    for key, value in fields.items():
        if value is None:
            entry.pop(key, None)
        else:
            entry[key] = value
    if entry:
        data[exercise_id] = entry
    else:
        data.pop(exercise_id, None)
    _write_progress(data)


def record_verdict(exercise_id: str, verdict: str) -> None:
    """The last check of the learner's own file; only "correct" keeps a `correct_at`."""
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    correct_at = now if verdict == "correct" else None
    update_progress(exercise_id, status=verdict, checked_at=now, correct_at=correct_at)


def take_hint(meta: Meta, number: int | None = None) -> int:
    """Which hint to show (the next one unless `number` is given), remembered in the progress
    file, so that the notebook and the shell count the same hints."""
    with _progress_lock():
        seen = int(read_progress().get(meta.id, {}).get("hints_seen", 0))
        if number is None:
            number = min(seen + 1, len(meta.hints))
        if 1 <= number <= len(meta.hints):  # hint_text names the range for any other number
            _update_progress(meta.id, {"hints_seen": max(seen, number)})
    return number


def status(exercise_id: str, progress: dict[str, dict[str, Any]] | None = None) -> str:
    """ "correct", "incorrect", or "not attempted" (never checked, or the stub is untouched)."""
    entry = (read_progress() if progress is None else progress).get(exercise_id, {})
    value = entry.get("status")
    return value if value in ("correct", "incorrect") else "not attempted"


def progress_rows(metas: list[Meta] | None = None) -> list[dict[str, Any]]:
    """One row per exercise: its metadata and the learner's progress (the CLI's --json)."""
    metas, progress = (load() if metas is None else metas), read_progress()
    return [
        {
            "id": m.id,
            "title": m.title,
            "status": status(m.id, progress),
            "file": m.file,
            "solution": m.solution,
            "tests": m.tests,
            "notebook": m.notebook,
            "timeout": m.timeout,
            "hint_count": len(m.hints),
            "correct_at": progress.get(m.id, {}).get("correct_at"),
        }
        for m in metas
    ]


def progress_summary(rows: list[dict[str, Any]], how_to_check: str) -> str:
    """ "3/13 correct. Next: ex04 (<how_to_check ex04>)" """
    done = sum(r["status"] == "correct" for r in rows)
    todo = next((r for r in rows if r["status"] != "correct"), None)
    following = f" Next: {todo['id']} ({how_to_check.format(id=todo['id'])})" if todo else ""
    return f"{done}/{len(rows)} correct.{following}"


def exercises() -> None:
    """Every exercise with your progress, and the next one to do."""
    rows = progress_rows()
    shade = {"correct": "background:#dafbe1", "incorrect": "background:#ffebe9"}
    table(
        rows,
        ["id", "status", "title", "notebook", "file"],
        colour={r["id"]: shade.get(r["status"], "") for r in rows},
    )
    print(progress_summary(rows, 'wb.exercise("{id}").check()'))


# --- what the notebook handle shows --------------------------------------------------------


class Shown:
    """Text that renders as a coloured box in Jupyter and as plain text in a terminal."""

    def __init__(self, text: str, html_body: str, colour: str = "#0969da") -> None:
        self.text, self.html_body, self.colour = text, html_body, colour

    def __str__(self) -> str:
        return self.text

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return (
            f"<div style='border-left:4px solid {self.colour};padding:6px 10px;"
            f"margin:4px 0'>{self.html_body}</div>"
        )


def hint_text(meta: Meta, number: int, how_to_solution: str) -> tuple[str, bool]:
    """("Hint n of N: ...", is_last) for hint `number` (1-based), or an error naming the range."""
    total = len(meta.hints)
    if not 1 <= number <= total:
        raise WorkbookError(
            f"{meta.id} has {total} hints; there is no hint {number}.",
            f"ask for a hint from 1 to {total}.",
        )
    text = f"Hint {number} of {total} for {meta.id}: {meta.hints[number - 1]}"
    last = number == total
    if last:
        text += f"\n(That was the last hint. The solution: {how_to_solution}.)"
    return text, last


def solution_source(meta: Meta) -> str:
    return meta.solution_path.read_text(encoding="utf-8")


SPOILER = "Spoiler: this is the full solution. Try the hints first; reading it ends the puzzle."


def stub_from_git(meta: Meta) -> str:
    """The learner file as committed: the untouched stub."""
    if shutil.which("git") is None:
        raise WorkbookError(
            "git is not installed, and reset restores the stub from the git history.",
            "install git, or copy the file from the workbook's repository online.",
        )
    path = meta.file_path
    done = subprocess.run(
        ["git", "-C", str(path.parent), "show", f"HEAD:./{path.name}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise WorkbookError(
            f"git has no committed copy of {meta.file} ({done.stderr.strip()}).",
            "reset needs the workbook as a git clone; clone it again, or copy the stub from"
            " the repository online.",
        )
    return done.stdout


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


def restore_tests(meta: Meta, *, changed: bool = True) -> list[Path]:
    """Put back the exercise's test file and the conftest.py beside it from git, where
    missing (and, unless changed=False, where changed); returns what was restored."""
    restored = []
    for path in (meta.tests_path, meta.tests_path.parent / "conftest.py"):
        if path.is_file() and not changed:
            continue
        text = committed(path)
        if text is None:
            continue
        if not path.is_file() or path.read_text(encoding="utf-8", errors="replace") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            restored.append(path)
    return restored


def reset_file(meta: Meta) -> Path | None:
    """Restore the stub and the exercise's tests; the learner's version is kept in
    .workbook/backups/. Returns that copy."""
    stub = stub_from_git(meta)
    path, backup = meta.file_path, None
    if path.exists() and path.read_text(encoding="utf-8") != stub:
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        backup = progress_path().parent / "backups" / f"{path.stem}.{stamp}.py"
        backup.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, backup)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(stub, encoding="utf-8")
    restore_tests(meta)
    update_progress(meta.id)  # the stub again: not attempted
    return backup


class Exercise:
    """An exercise in a notebook: `check()`, `hint()`, `hint(n)`, `solution()`, `reset()`."""

    def __init__(self, meta: Meta, metadata: Path | str | None = None) -> None:
        self.meta, self._metadata = meta, metadata

    @property
    def id(self) -> str:
        return self.meta.id

    @property
    def status(self) -> str:
        """From the progress file: "correct", "incorrect" or "not attempted"."""
        return status(self.id)

    def check(self) -> CheckResult:
        """Run the tests on your file in a fresh process; the verdict renders in the notebook."""
        from ._checker import check

        limit = f"{self.meta.timeout:g}"
        print(f"Checking {self.id} in a fresh process (time limit {limit} s)…", flush=True)
        return check(self.id, metadata=self._metadata, quick=True)

    def hint(self, number: int | None = None) -> Shown:
        """The next hint, or hint `number` (counting from 1)."""
        number = take_hint(self.meta, number)
        text, _ = hint_text(self.meta, number, f'`wb.exercise("{self.id}").solution()`')
        body, _, last = text.partition("\n")
        title, hint = body.split(": ", 1)
        html_body = f"<b>{html.escape(title)}</b>: {markdown_inline(hint)}"
        if last:
            html_body += f"<br><i>{markdown_inline(last)}</i>"
        return Shown(text, html_body)

    def solution(self) -> Shown:
        """A spoiler warning, then the solution file: the very file the checks run."""
        source = solution_source(self.meta)
        text = f"{SPOILER}\n# {self.meta.solution}\n{source}"
        body = (
            f"<b style='color:#9a6700'>{html.escape(SPOILER)}</b>"
            f"<div style='color:#666'>{html.escape(self.meta.solution)}</div>{highlighted(source)}"
        )
        return Shown(text, body, colour="#9a6700")

    def reset(self) -> Shown:
        """Put the untouched stub back (from git); your version is copied to .workbook/backups/."""
        backup = reset_file(self.meta)
        text = f"{self.meta.file} is the stub again."
        if backup is not None:
            text += f" Your version was saved as {_relative(backup)}."
        return Shown(text, html.escape(text))

    def __repr__(self) -> str:
        return f"<Exercise {self.id}: {self.meta.title} ({self.status})>"


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def exercise(exercise_id: str | int, metadata: Path | str | None = None) -> Exercise:
    """The exercise `exercise_id` ("ex01"), from exercises/exercises.toml."""
    return Exercise(get(exercise_id, metadata), metadata)
