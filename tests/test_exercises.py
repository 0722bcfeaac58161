"""The dev check (rustlings' `dev check`): every stub reads "not attempted", every solution
"correct", every wrong answer kept in tests/wrong_answers/ "incorrect" with the sentence it
states, and no file lies in the exercise folders that exercises.toml does not name.

A wrong answer is a folder tests/wrong_answers/exNN/<variant>/ with the learner file (the
exercise's file name) and expected.txt: one line, a fragment of the sentence its incorrect
verdict must contain (compared case-insensitively).

Each check takes the learner's path (warm=True: a test process forked by the warm check server,
as the notebook handle and `workbook check` run it), with the quick shortcuts off, so that the
tests themselves prove every verdict. tests/test_checker.py covers the fresh-process path.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from workbook._exercises.check import check
from workbook._exercises.model import Verdict, load

ROOT = Path(__file__).resolve().parents[1]
EXERCISES = load()
WRONG_ROOT = ROOT / "tests" / "wrong_answers"
WRONG = sorted(WRONG_ROOT.glob("ex*/*/"))
EXPECTED = "expected.txt"

# Files in exercises/ and solutions/ that no [[exercise]] entry names, and may be there
# (rustlings' check_unexpected_files): the folders' READMEs, the metadata, and what the tests
# share in exercises/tests/ (conftest.py, fixture modules such as rq_fixtures.py; a test
# module, test_*.py, is an exercise's and must be named). Anything else is a stray: a file an
# entry should name, or one to delete.
ALLOWED_EXTRAS = {"exercises/README.md", "exercises/exercises.toml", "solutions/README.md"}
SHARED_TESTS = "exercises/tests/"
IGNORED_PARTS = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache"}  # made by tools, ignored


@pytest.fixture(autouse=True)
def _private_progress(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBOOK_PROGRESS_FILE", str(tmp_path / "progress.json"))


def _files(folder: Path) -> list[Path]:
    return sorted(
        path
        for path in folder.rglob("*")
        if path.is_file() and not IGNORED_PARTS & set(path.relative_to(ROOT).parts)
    )


def test_every_exercise_has_three_wrong_answers_to_reject():
    for meta in EXERCISES:
        variants = [p for p in WRONG if p.parent.name == meta.id]
        assert len(variants) >= 3, (
            f"{meta.id} has {len(variants)} wrong answers in tests/wrong_answers/{meta.id}/:"
            " keep at least three, from the classes of issue 13."
        )


def test_every_file_in_the_exercise_folders_is_named_by_exercises_toml():
    named = {m.file for m in EXERCISES} | {m.solution for m in EXERCISES}
    named |= {m.tests for m in EXERCISES} | ALLOWED_EXTRAS
    found = {
        str(path.relative_to(ROOT)) for folder in ("exercises", "solutions") for path in
        _files(ROOT / folder)
    }  # fmt: skip
    strays = sorted(path for path in found - named if not _shared_by_the_tests(path))
    assert not strays, (
        f"No entry of exercises/exercises.toml names {', '.join(strays)}: add the exercise's"
        " entry (or fix the path in the entry that should name it), or delete the file; a file"
        " every exercise may need goes in ALLOWED_EXTRAS of tests/test_exercises.py."
    )


def _shared_by_the_tests(path: str) -> bool:
    """A conftest.py or fixture module beside the exercises' tests (not a test module)."""
    return path.startswith(SHARED_TESTS) and not Path(path).name.startswith("test_")


def test_the_stray_check_names_what_it_lets_through():
    assert _shared_by_the_tests("exercises/tests/conftest.py")
    assert _shared_by_the_tests("exercises/tests/fixtures/data.json")
    assert not _shared_by_the_tests("exercises/tests/test_ex99_gone.py")
    assert not _shared_by_the_tests("exercises/ex99_gone.py")
    assert not _shared_by_the_tests("solutions/tests/conftest.py")


def test_every_wrong_answer_holds_the_learner_file_and_its_expected_sentence():
    files = {meta.id: meta.file_path.name for meta in EXERCISES}
    for path in _files(WRONG_ROOT):
        parts = path.relative_to(WRONG_ROOT).parts
        assert len(parts) == 3 and parts[0] in files, (
            f"{path.relative_to(ROOT)} is not tests/wrong_answers/exNN/<variant>/<file> for an"
            " exercise of exercises.toml."
        )
        exercise_id, _, name = parts
        assert name in (files[exercise_id], EXPECTED), (
            f"{path.relative_to(ROOT)}: a wrong answer holds only {files[exercise_id]} and"
            f" {EXPECTED}."
        )
    for variant in WRONG:
        for name in (files.get(variant.parent.name, "?"), EXPECTED):
            assert (variant / name).is_file(), f"{variant.relative_to(ROOT)} lacks {name}"
        assert _expected(variant), f"{variant.relative_to(ROOT)}/{EXPECTED} is empty"


def _expected(variant: Path) -> str:
    lines = (variant / EXPECTED).read_text(encoding="utf-8").strip().splitlines()
    assert len(lines) <= 1, f"{variant.relative_to(ROOT)}/{EXPECTED}: one line, a fragment"
    return lines[0].strip() if lines else ""


@pytest.mark.parametrize("meta", EXERCISES, ids=lambda m: m.id)
def test_untouched_stub_reads_not_attempted(meta):
    result = check(meta.id, warm=True)
    assert result.verdict is Verdict.NOT_ATTEMPTED, str(result)


@pytest.mark.parametrize("meta", EXERCISES, ids=lambda m: m.id)
def test_solution_reads_correct(meta):
    result = check(meta.id, meta.solution_path.parent, warm=True)
    assert result.verdict is Verdict.CORRECT, str(result)
    assert result.passed == result.collected > 0


@pytest.mark.parametrize("variant", WRONG, ids=lambda p: f"{p.parent.name}-{p.name}")
def test_wrong_answer_reads_incorrect_with_its_sentence(variant):
    expected = _expected(variant) if (variant / EXPECTED).is_file() else ""
    assert expected, f"{variant.relative_to(ROOT)} has no {EXPECTED}"
    result = check(variant.parent.name, variant, warm=True)
    assert result.verdict is Verdict.INCORRECT, str(result)
    assert "Traceback" not in result.message, "the sentence, not a wall of internals"
    assert expected.lower() in result.message.lower(), (
        f"expected the verdict to say {expected!r}; it said:\n{result}"
    )
