"""Expected errors, shown short: the error and the learner's line, not two screens of library.

A notebook cell that demonstrates a failure wraps it in `with wb.expect_error(SomeError):`.
The error is still raised (the cell fails, nbclient and `%tb` see it), but IPython shows only
its type, its message and the lines of the learner's own code that led to it, through the
`_render_traceback_` hook IPython offers exceptions. Any other error keeps its full traceback.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import sysconfig
import tokenize
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ._paths import ROOT

MAX_LINES = 4  # learner frames shown; a deep recursion in a cell would be many
_INSTALLED = ("stdlib", "platstdlib", "purelib", "platlib")  # sysconfig's names for those
RED, DIM, RESET = "\x1b[1;31m", "\x1b[2m", "\x1b[0m"  # IPython shows tracebacks in ANSI colours
_LIBRARY_DIRS = tuple(
    {str(Path(sysconfig.get_path(name)).resolve()) + os.sep for name in _INSTALLED}
    | {str(Path(__file__).resolve().parent) + os.sep}  # the workbook's own machinery
)


@contextmanager
def expect_error(*kinds: type[BaseException]) -> Iterator[None]:
    """Run the block; an error of `kinds` (default: any Exception) is raised as usual but
    displayed short. An error of another kind is unexpected and keeps its full traceback.

        with wb.expect_error(RuntimeError):
            uvicorn.run(app)
    """
    expected = kinds or (Exception,)
    try:
        yield
    except expected as error:
        _show_short(error)
        raise
    print(
        f"Expected {' or '.join(k.__name__ for k in expected)} here, but nothing was raised.",
        file=sys.stderr,
    )


def _show_short(error: BaseException) -> None:
    """Give this one exception IPython's `_render_traceback_` hook, for its first display only,
    so that `%tb` afterwards shows the whole traceback."""

    def render() -> list[str]:
        vars(error).pop("_render_traceback_", None)
        try:
            return short_traceback(error)
        except Exception:  # a fault of ours must not hide the learner's error: show it all
            shell = sys.modules["IPython"].get_ipython()
            return shell.InteractiveTB.structured_traceback(type(error), error, error.__traceback__)

    # An exception type without a __dict__ keeps its full traceback.
    with contextlib.suppress(AttributeError):
        error._render_traceback_ = render  # type: ignore[attr-defined]


def short_traceback(error: BaseException) -> list[str]:
    """The lines IPython shows for an expected error: what, where in the learner's code, and
    how to see everything."""
    frames = traceback.extract_tb(error.__traceback__)
    ours = [frame for frame in frames if _learners(frame.filename)][-MAX_LINES:]
    places = [(_where(frame), _code(frame.line or "")) for frame in ours]
    lines = [f"{RED}{type(error).__name__}{RESET}: {error}"]
    lines += [f"  {where}: {code}" for where, code in places]
    lines.append(
        f"{DIM}(an expected error, shown short; %tb in a new cell shows the full traceback,"
        f" {len(frames)} frames){RESET}"
    )
    return lines


def _code(line: str) -> str:
    """The line without its comment: the code is the point, and the line is long enough."""
    line = line.strip()
    with contextlib.suppress(tokenize.TokenError, SyntaxError):  # a statement split over lines
        for token in tokenize.generate_tokens(io.StringIO(line).readline):
            if token.type == tokenize.COMMENT:
                return line[: token.start[1]].rstrip()
    return line


def _learners(filename: str) -> bool:
    """A notebook cell or a file of the learner's: not the standard library, an installed
    package, the workbook's machinery, or frozen import code."""
    if _cell_name(filename):
        return True
    if filename.startswith("<"):
        return False
    return not str(Path(filename).resolve()).startswith(_LIBRARY_DIRS)


def _cell_name(filename: str) -> str | None:
    """ "Cell In[4]" for code typed into a notebook cell, as IPython labels it."""
    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    label = shell.compile.format_code_name(filename) if shell is not None else None
    return f"{label[0]} {label[1]}" if label else None


def _where(frame: traceback.FrameSummary) -> str:
    name = _cell_name(frame.filename)
    if name is None:
        path = Path(frame.filename).resolve()
        name = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
    return f"{name}, line {frame.lineno}"
