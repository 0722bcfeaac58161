"""Hints render their Markdown in a notebook (code in <code>, no literal backticks) and stay
plain text, backticks and all, in a terminal."""

from __future__ import annotations

import pytest

from workbook import exercise
from workbook._display import markdown_inline
from workbook._exercises.model import get


@pytest.fixture(autouse=True)
def _own_progress_file(monkeypatch, tmp_path):
    monkeypatch.setenv("WORKBOOK_PROGRESS_FILE", str(tmp_path / "progress.json"))


def test_a_hint_renders_its_code_spans_in_a_notebook():
    hint = get("ex01").hints[1]
    assert "`background_tasks.add_task(function, *args)`" in hint  # what the metadata holds
    shown = exercise("ex01").hint(2)
    rendered = shown._repr_html_()
    assert "<code>background_tasks.add_task(function, *args)</code>" in rendered
    assert "`" not in rendered
    assert "<b>Hint 2 of 3 for ex01</b>: " in rendered
    assert str(shown) == f"Hint 2 of 3 for ex01: {hint}"  # the terminal's plain text


def test_the_last_hint_names_the_solution_call_as_code():
    shown = exercise("ex01").hint(3)
    assert "<code>wb.exercise(&quot;ex01&quot;).solution()</code>" in shown._repr_html_()
    assert "`" not in shown._repr_html_()
    assert str(shown).endswith('The solution: `wb.exercise("ex01").solution()`.)')


@pytest.mark.parametrize(
    ("markdown", "html"),
    [
        ("call `f(x)` now", "call <code>f(x)</code> now"),
        ("`a < b` and <script>", "<code>a &lt; b</code> and &lt;script&gt;"),
        ("**only** the *last* one", "<b>only</b> the <i>last</i> one"),
        ("2 * 3 and x*y stay", "2 * 3 and x*y stay"),
        ("`**not bold**`", "<code>**not bold**</code>"),
        ("a lone ` backtick", "a lone ` backtick"),
    ],
)
def test_markdown_inline(markdown, html):
    assert markdown_inline(markdown) == html
