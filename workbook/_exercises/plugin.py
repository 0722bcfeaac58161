"""The pytest plugin behind a "correct" verdict: a signed record of every test's outcome.

A check reads "correct" only on positive evidence. The checker hands this plugin a one-time
key through a pipe (not the environment: /proc/self/environ keeps the original one) and a
results path through the environment; the plugin takes both when pytest loads it
(`-p workbook._exercises.plugin`, before any learner code is imported), closes the pipe,
removes both variables from os.environ, and at the end writes every collected test's outcome
signed with the key. Learner code that exits early writes no record; one that forges a
record cannot sign it. (This stops accidents and naive tampering; code in the same process
is not sandboxed.)

It also records, for each failure, the exception and the frames in the learner's own file,
so the checker can show one sentence instead of pytest's internals.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any

KEY_FD_ENV = "WORKBOOK_CHECK_KEY_FD"
RESULTS_ENV = "WORKBOOK_CHECK_RESULTS"
TEXT_LIMIT = 20_000  # per failure: assertion messages may carry worker logs


def _take_secrets() -> tuple[Callable[[bytes], str], str] | None:
    fd, path = os.environ.pop(KEY_FD_ENV, None), os.environ.pop(RESULTS_ENV, None)
    if fd is None or path is None:
        return None
    with os.fdopen(int(fd), "rb") as pipe:  # the checker closed its end: read to EOF, close
        key = pipe.read(4096)

    def sign(data: bytes) -> str:
        return hmac.new(key, data, hashlib.sha256).hexdigest()

    return sign, path


_secrets = _take_secrets()
_learner_file = os.path.realpath(os.environ.get("WORKBOOK_EXERCISE_FILE", "") or "/nonexistent")
_items: list[str] = []
_outcomes: dict[str, str] = {}
_failures: dict[str, dict[str, Any]] = {}
_spent = [0.0]  # seconds inside the tests (set-up, call, tear-down): what the exercise needs


def _trim(text: str) -> str:
    return (
        text
        if len(text) <= TEXT_LIMIT
        else text[: TEXT_LIMIT // 2] + "\n…\n" + text[-TEXT_LIMIT // 2 :]
    )


def _learner_traceback(exc: BaseException) -> str:
    """Only the frames in the learner's file, then the exception line (a syntax error's caret)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if _is_learner(f.filename)]
    lines = traceback.format_list(frames)
    is_syntax = isinstance(exc, SyntaxError) and _is_learner(exc.filename or "")
    if frames or is_syntax:
        lines += traceback.format_exception_only(type(exc), exc)
    return "".join(lines)


def _is_learner(filename: str) -> bool:
    return bool(filename) and os.path.realpath(filename) == _learner_file


def _failure(key: str) -> dict[str, Any]:
    return _failures.setdefault(key, {"nodeid": key.split("|")[0], "when": key.split("|")[1]})


def pytest_collectreport(report: Any) -> None:
    if _secrets is not None and (report.failed or report.skipped):
        entry = _failure(f"{report.nodeid}|collect")
        entry.update(outcome=report.outcome, text=_trim(report.longreprtext))


def pytest_collection_finish(session: Any) -> None:
    _items[:] = [item.nodeid for item in session.items]


def pytest_runtest_logstart(nodeid: str, location: Any) -> None:
    if _secrets is not None:  # names the test that was running when a time limit hits
        with open(_secrets[1] + ".current", "w", encoding="utf-8") as file:
            file.write(nodeid)


def pytest_runtest_logreport(report: Any) -> None:
    if _secrets is None:
        return
    nodeid, when = report.nodeid, report.when
    _spent[0] += float(getattr(report, "duration", 0.0) or 0.0)
    if when == "call":
        xfail = hasattr(report, "wasxfail")
        _outcomes[nodeid] = ("xfail" if report.skipped else "xpass") if xfail else report.outcome
    elif report.failed:
        _outcomes[nodeid] = "error"
    elif when == "setup" and report.skipped:
        _outcomes[nodeid] = "skipped"
    if report.failed or report.skipped:
        entry = _failure(f"{nodeid}|{when}")
        entry.update(outcome=report.outcome, text=_trim(report.longreprtext))


def pytest_exception_interact(node: Any, call: Any, report: Any) -> None:
    if _secrets is None or call.excinfo is None:
        return
    _describe(_failure(f"{report.nodeid}|{call.when}"), call.excinfo.value)


def pytest_internalerror(excrepr: Any, excinfo: Any) -> None:
    """sys.exit() while pytest imports the tests is not a collection error but an internal one."""
    if _secrets is not None and excinfo is not None:
        entry = _failure("<session>|collect")
        entry.update(outcome="failed", text=_trim(str(excrepr)))
        _describe(entry, excinfo.value)


def _describe(entry: dict[str, Any], exc: BaseException) -> None:
    if type(exc).__name__ == "CollectError" and exc.__cause__ is not None:
        exc = exc.__cause__  # pytest's wrapper of an ImportError or SyntaxError in the tests
    entry.update(
        type=type(exc).__name__,
        message=_trim(str(exc)),
        name=getattr(exc, "name", None) if isinstance(exc, ImportError) else None,
        code=repr(exc.code) if isinstance(exc, SystemExit) else None,
        learner=_trim(_learner_traceback(exc)),
    )


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    if _secrets is None:
        return
    sign, path = _secrets
    module = os.environ.get("WORKBOOK_EXERCISE_MODULE", "")
    imported = getattr(sys.modules.get(module), "__file__", None)
    record = {
        "items": _items,
        "outcomes": _outcomes,
        "failures": list(_failures.values()),
        "exitstatus": int(exitstatus),
        "module_file": imported,
        "tests_time": round(_spent[0], 3),
        # Threads that keep the process from ending, named if it then does not end.
        "threads": [
            t.name
            for t in threading.enumerate()
            if not t.daemon and t is not threading.main_thread()
        ],
    }
    body = json.dumps(record, sort_keys=True).encode()
    data = json.dumps({"record": body.decode(), "mac": sign(body)})
    tmp = f"{path}.tmp"
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as file:
        file.write(data)
    os.replace(tmp, path)
