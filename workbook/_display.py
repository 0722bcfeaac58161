"""Show teaching code and tables in a notebook (rich) or a terminal (plain), from the real file."""

from __future__ import annotations

import ast
import html
import inspect
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
        from IPython.display import HTML, Code, display

        display(HTML(f"<div style='font-size:85%;color:#666'>{html.escape(header)}</div>"))
        display(Code(text.rstrip("\n"), language="python"))
    else:
        print(f"# {header}\n{text.rstrip()}")


def table(rows: list[dict[str, Any]], columns: list[str], colour: dict[str, str] | None = None):
    """A list of dicts as an HTML table in a notebook, or aligned text in a terminal."""
    if in_notebook():
        from IPython.display import HTML, display

        head = "".join(f"<th style='text-align:left'>{html.escape(c)}</th>" for c in columns)
        body = []
        for row in rows:
            style = (colour or {}).get(str(row.get(columns[0], "")), "")
            cells = "".join(
                f"<td style='text-align:left'>{html.escape(str(row.get(c, '')))}</td>"
                for c in columns
            )
            body.append(f"<tr style='{style}'>{cells}</tr>")
        display(HTML(f"<table><tr>{head}</tr>{''.join(body)}</table>"))
        return
    widths = [max([len(c)] + [len(str(r.get(c, ""))) for r in rows]) for c in columns]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in rows:
        cells = (str(row.get(c, "")).ljust(w) for c, w in zip(columns, widths, strict=True))
        print("  ".join(cells).rstrip())
