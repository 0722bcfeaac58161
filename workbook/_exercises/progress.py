"""The learner's progress (.workbook/progress.json, git-ignored, one entry per exercise), and
putting an exercise's stub and tests back from git."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .._paths import ROOT
from .files import committed, stub_from_git
from .model import Meta, Verdict, load

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows, which the workbook does not support
    fcntl = None  # type: ignore[assignment]

PROGRESS_ENV = "WORKBOOK_PROGRESS_FILE"  # another progress file (the checker's own tests)


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


def record_verdict(exercise_id: str, verdict: Verdict | str) -> None:
    """The last check of the learner's own file; only "correct" keeps a `correct_at`."""
    verdict = Verdict(verdict)
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    correct_at = now if verdict is Verdict.CORRECT else None
    update_progress(exercise_id, status=verdict.value, checked_at=now, correct_at=correct_at)


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


def status(exercise_id: str, progress: dict[str, dict[str, Any]] | None = None) -> Verdict:
    """The last verdict recorded; never checked (or reset) reads not attempted."""
    entry = (read_progress() if progress is None else progress).get(exercise_id, {})
    try:
        return Verdict(entry.get("status"))
    except ValueError:
        return Verdict.NOT_ATTEMPTED


def progress_rows(metas: list[Meta] | None = None) -> list[dict[str, Any]]:
    """One row per exercise: its metadata and the learner's progress (the CLI's --json)."""
    metas, progress = (load() if metas is None else metas), read_progress()
    return [
        {
            "id": m.id,
            "title": m.title,
            "status": status(m.id, progress).value,
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
    done = sum(r["status"] == Verdict.CORRECT for r in rows)
    todo = next((r for r in rows if r["status"] != Verdict.CORRECT), None)
    following = f" Next: {todo['id']} ({how_to_check.format(id=todo['id'])})" if todo else ""
    return f"{done}/{len(rows)} correct.{following}"


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
    stub = stub_from_git(meta.file_path, meta.file)
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
