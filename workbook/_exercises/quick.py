"""What a check can tell without running the tests: the untouched stub, and a file that does
not compile. Both answers are what the tests would give (the dev check proves every stub
reads "not attempted" through the tests; a file that does not compile cannot be imported by
them), in milliseconds instead of a test process's seconds.
"""

from __future__ import annotations

import ast
import traceback
from pathlib import Path
from typing import Any

from .files import committed


def compile_failure(path: Path) -> dict[str, Any] | None:
    """The syntax error of the file, described as the the plugin describes one raised
    while the tests import it; None when it compiles (or cannot be read: the tests say why)."""
    try:
        source = path.read_bytes()
    except OSError:
        return None
    try:
        compile(source, str(path), "exec", dont_inherit=True)
    except SyntaxError as exc:
        return {
            "nodeid": "",
            "when": "collect",
            "outcome": "failed",
            "type": type(exc).__name__,
            "message": str(exc),
            "name": None,
            "code": None,
            "learner": "".join(traceback.format_exception_only(type(exc), exc)),
        }
    except ValueError:  # null bytes, on Pythons that do not call it a syntax error
        return None
    return None


def untouched(path: Path) -> str | None:
    """The committed text of the file when the file holds the same code (comments, blank
    lines and spacing aside); None when it changed, does not parse, or git has no copy."""
    original = committed(path)
    if original is None:
        return None
    try:
        ours = ast.dump(ast.parse(path.read_bytes()))
        theirs = ast.dump(ast.parse(original))
    except (OSError, SyntaxError, ValueError):
        return None
    return original if ours == theirs else None
