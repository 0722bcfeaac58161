"""What a notebook shows: teaching code in a code font whatever the page's CSS, and tables
whose short cells do not wrap."""

from __future__ import annotations

import pytest

import workbook as wb
from workbook._display import highlighted, table


@pytest.fixture
def displayed(monkeypatch):
    """What the cell would display, as if it ran in a notebook."""
    shown: list = []
    monkeypatch.setattr("workbook._display.in_notebook", lambda: True)
    monkeypatch.setattr("IPython.display.display", shown.append)
    return shown


def test_code_is_highlighted_in_the_notebooks_code_font():
    code = highlighted("def f(x):\n    return x < 1\n")
    assert code.startswith("<pre style='font-family:var(--jp-code-font-family,monospace);")
    assert "<span" in code and "&lt;" in code and code.endswith("</pre>")


def test_show_is_one_output_labelled_with_the_file_and_lines(displayed):
    wb.show("app_snippets/settings.py", "redis_url")
    (source,) = displayed
    assert source._repr_html_().startswith("<div style='font-size:85%;color:#666'>")
    assert "app_snippets/settings.py, lines " in source._repr_html_()
    assert "font-family:var(--jp-code-font-family" in source._repr_html_()
    plain = repr(source)  # what a front end without HTML shows
    assert plain.startswith("# app_snippets/settings.py, lines ") and "def redis_url" in plain


def test_short_cells_never_wrap_and_long_ones_may(displayed):
    long_title = "A JSON job with bounded retries behind a status endpoint"
    row = {"id": "ex08", "status": "not attempted", "title": long_title}
    table([row], ["id", "status", "title"])
    (page,) = displayed
    assert "white-space:nowrap'>not attempted</td>" in page.data
    assert f"<td style='text-align:left'>{long_title}</td>" in page.data
