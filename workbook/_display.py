"""Show teaching code and tables in a notebook (rich) or a terminal (plain), from the real file."""

from __future__ import annotations

import ast
import html
import inspect
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from ._errors import WorkbookError
from ._paths import ROOT


def in_notebook() -> bool:
    """True inside a Jupyter kernel, where rich HTML output renders."""
    shell = sys.modules.get("IPython") and __import__("IPython").get_ipython()
    return bool(shell) and type(shell).__name__ == "ZMQInteractiveShell"


def _source_of(target: Any, name: str | None) -> tuple[str, str, int]:
    """(source, file label, first line) of a file, module, function or class."""
    if isinstance(target, str | Path):
        path = Path(target)
        path = path if path.is_absolute() else ROOT / path
        if not path.exists():
            raise WorkbookError(
                f"No file {target}.", "give a path relative to the repository root."
            )
        text, first = path.read_text(), 1
    else:
        module = target if isinstance(target, ModuleType) else inspect.getmodule(target)
        path = Path(inspect.getsourcefile(target) or "?")
        if module is target:
            text, first = inspect.getsource(target), 1
        else:
            lines, first = inspect.getsourcelines(target)
            text = "".join(lines)
    if name:
        text, first = _pick(text, name, path)
    try:
        label = str(path.resolve().relative_to(ROOT))
    except ValueError:
        label = str(path)
    return text, label, first


def _pick(text: str, name: str, path: Path) -> tuple[str, int]:
    """Only the definition of `name` from a module's text: a function or class with its
    decorators, or a top-level assignment such as `Session = Annotated[...]`."""
    tree = ast.parse(text)
    for node in [*ast.walk(tree), *tree.body]:
        start = None
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            if node.name == name:
                start = min([node.lineno] + [d.lineno for d in node.decorator_list])
        elif isinstance(node, ast.Assign | ast.AnnAssign) and node in tree.body:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                start = node.lineno
        if start is not None:
            lines = text.splitlines(keepends=True)[start - 1 : node.end_lineno]
            return "".join(lines), start
    raise WorkbookError(f"Nothing called {name!r} in {path.name}.", "check the spelling.")


def show(target: Any, name: str | None = None) -> None:
    """Display the real source of a file, module, function or class (or `name` inside it).

    Notebooks show teaching code this way, so what you read is what runs.
    """
    text, label, first = _source_of(target, name)
    last = first + text.count("\n") - (1 if text.endswith("\n") else 0)
    lines = f"line {first}" if first == last else f"lines {first}-{last}"
    header = f"{label}, {lines}" if name or first > 1 else label
    if in_notebook():
        from IPython.display import display

        display(_Source(header, text.rstrip("\n")))
    else:
        print(f"# {header}\n{text.rstrip()}")


class _Source:
    """A file's label and its highlighted code in a notebook; the plain text elsewhere."""

    def __init__(self, label: str, code: str) -> None:
        self.label, self.code = label, code

    def _repr_html_(self) -> str:
        label = f"<div style='font-size:85%;color:#666'>{html.escape(self.label)}</div>"
        return label + highlighted(self.code)

    def __repr__(self) -> str:
        return f"# {self.label}\n{self.code}"


# The page's own code font: a bare <pre> inherits the prose font in some front ends (nbconvert's
# HTML, for one), and teaching code must read as code everywhere.
_PRE = (
    "<pre style='font-family:var(--jp-code-font-family,monospace);"
    "font-size:var(--jp-code-font-size,13px);line-height:1.35;margin:0.3em 0'>{}</pre>"
)


def highlighted(source: str) -> str:
    """Python source as HTML with inline colours (pygments comes with JupyterLab)."""
    try:
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import PythonLexer
    except ImportError:  # pragma: no cover - jupyterlab brings it
        return _PRE.format(html.escape(source))
    formatter = HtmlFormatter(noclasses=True, nobackground=True, nowrap=True)
    return _PRE.format(highlight(source, PythonLexer(), formatter))


_CODE_SPAN = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*(\S(?:.*?\S)?)\*\*")
_ITALIC = re.compile(r"(?<![\w*])\*(\S(?:.*?\S)?)\*(?![\w*])")


def markdown_inline(text: str) -> str:
    """HTML for Markdown as hints write it: `code`, **bold**, *italics*; all else escaped.

    Hints are one paragraph of prose with code in backticks; a terminal prints them as they
    are, where the backticks still mark the code.
    """
    parts = _CODE_SPAN.split(text)
    for index, part in enumerate(parts):
        if index % 2:
            parts[index] = f"<code>{html.escape(part)}</code>"
        else:
            part = _BOLD.sub(r"<b>\1</b>", html.escape(part))
            parts[index] = _ITALIC.sub(r"<i>\1</i>", part)
    return "".join(parts)


def _cell(text: str) -> str:
    """A table cell; a short one never wraps ("not attempted" on two lines reads badly)."""
    wrap = "" if len(text) > 24 else ";white-space:nowrap"
    return f"<td style='text-align:left{wrap}'>{html.escape(text)}</td>"


def table(rows: list[dict[str, Any]], columns: list[str], colour: dict[str, str] | None = None):
    """A list of dicts as an HTML table in a notebook, or aligned text in a terminal."""
    if in_notebook():
        from IPython.display import HTML, display

        head = "".join(f"<th style='text-align:left'>{html.escape(c)}</th>" for c in columns)
        body = []
        for row in rows:
            style = (colour or {}).get(str(row.get(columns[0], "")), "")
            cells = "".join(_cell(str(row.get(c, ""))) for c in columns)
            body.append(f"<tr style='{style}'>{cells}</tr>")
        display(HTML(f"<table><tr>{head}</tr>{''.join(body)}</table>"))
        return
    widths = [max([len(c)] + [len(str(r.get(c, ""))) for r in rows]) for c in columns]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in rows:
        cells = (str(row.get(c, "")).ljust(w) for c, w in zip(columns, widths, strict=True))
        print("  ".join(cells).rstrip())
