"""The dev check (rustlings' `dev check`): every stub reads "not attempted", every solution
"correct", and every wrong answer kept in tests/wrong_answers/ "incorrect"."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbook._checker import Verdict, check
from workbook._exercises import load

ROOT = Path(__file__).resolve().parents[1]
EXERCISES = load()
WRONG = sorted((ROOT / "tests" / "wrong_answers").glob("ex*/*/"))


@pytest.fixture(autouse=True)
def _private_progress(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBOOK_PROGRESS_FILE", str(tmp_path / "progress.json"))


def test_every_exercise_has_a_wrong_answer_to_reject():
    for meta in EXERCISES:
        variants = [p for p in WRONG if p.parent.name == meta.id]
        assert variants, f"{meta.id} has no wrong answer in tests/wrong_answers/{meta.id}/"
        for variant in variants:
            assert (variant / meta.file_path.name).exists(), (
                f"{variant} lacks {meta.file_path.name}"
            )


@pytest.mark.parametrize("meta", EXERCISES, ids=lambda m: m.id)
def test_untouched_stub_reads_not_attempted(meta):
    result = check(meta.id)
    assert result.verdict is Verdict.NOT_ATTEMPTED, str(result)


@pytest.mark.parametrize("meta", EXERCISES, ids=lambda m: m.id)
def test_solution_reads_correct(meta):
    result = check(meta.id, meta.solution_path.parent)
    assert result.verdict is Verdict.CORRECT, str(result)
    assert result.passed == result.collected > 0


@pytest.mark.parametrize("variant", WRONG, ids=lambda p: f"{p.parent.name}-{p.name}")
def test_wrong_answer_reads_incorrect(variant):
    result = check(variant.parent.name, variant)
    assert result.verdict is Verdict.INCORRECT, str(result)
    assert result.message.strip(), "an incorrect verdict must say what is wrong"
    assert "Traceback" not in result.message, "the sentence, not a wall of internals"
