"""One error type for the workbook, whose message always says what went wrong and the fix."""

from __future__ import annotations


class WorkbookError(RuntimeError):
    """Something the workbook started (or was asked to start) failed.

    The message has three parts: what happened, how to fix it, and the last log lines of the
    process involved, so a learner never has to guess from a bare traceback.
    """

    __module__ = "workbook"  # a traceback's last line shows it before anything named it

    def __init__(self, what: str, fix: str, logs: str = "") -> None:
        self.what, self.fix, self.logs = what, fix, logs
        message = f"{what}\n  Fix: {fix}"
        if logs.strip():
            tail = "\n".join("    " + line for line in logs.strip().splitlines()[-15:])
            message += f"\n  Last log lines:\n{tail}"
        super().__init__(message)
