"""A check's result: the verdict, the sentence that explains it, what the tests did; shown
as a box in Jupyter and as text in a terminal (see view)."""

from __future__ import annotations

import html
from dataclasses import dataclass

from .model import Verdict
from .view import PALETTE, box, small


@dataclass
class CheckResult:
    """A verdict with the sentence that explains it; renders in Jupyter and in a terminal."""

    id: str
    verdict: Verdict
    message: str
    details: str = ""
    duration: float = 0.0
    passed: int = 0
    collected: int = 0
    title: str = ""
    tree: str = ""
    failed: int = 0  # ran and did not pass; with passed, the tests that ran
    file: str = ""  # the file checked, relative to the repository root
    tests_time: float = 0.0  # seconds inside the tests themselves; the rest is the checker's
    warm: bool = False  # the tests ran in a process forked by the warm check server

    @property
    def exit_code(self) -> int:
        return self.verdict.exit_code

    @property
    def correct(self) -> bool:
        return self.verdict is Verdict.CORRECT

    @property
    def ran(self) -> int:
        """The tests that ran: pytest stops at the first failure."""
        return self.passed + self.failed

    @property
    def tally(self) -> str:
        """What the tests did, counting only those that ran: pytest stops at the first
        failure, so the rest did not run (which says nothing about them)."""
        if not self.collected:
            return ""
        not_run = self.collected - self.ran
        parts = [f"{self.passed} passed"]
        if self.failed or not self.correct:
            parts.append(f"{self.failed} failed")
        if not_run:
            why = " (the check stops at the first failure)" if self.failed else ""
            parts.append(f"{not_run} not run{why}")
        return ", ".join(parts)

    def footer(self) -> str:
        # A correct verdict's sentence already counts the tests: no second count here.
        tests = "" if self.correct else self.tally
        checked = f"checked {self.file or self.tree}" if (self.file or self.tree) else ""
        return "; ".join(p for p in (tests, f"{self.duration:.1f} s", checked) if p)

    def __str__(self) -> str:
        mark, _ = PALETTE[self.verdict]
        lines = [f"{mark} {self.id} {self.verdict}: {self.message}"]
        lines += ["    " + line for line in self.details.splitlines()]
        lines.append(f"  ({self.footer()})")
        if not self.correct:
            lines.append(f"  Stuck? A hint: workbook hint {self.id}")
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        mark, colour = PALETTE[self.verdict]
        title = f" · {html.escape(self.title)}" if self.title else ""
        body = [
            f"<div style='font-weight:bold;color:{colour}'>{mark} {self.id}{title}: "
            f"{self.verdict}</div>",
            f"<div style='margin:4px 0'>{html.escape(self.message)}</div>",
        ]
        if self.details:
            body.append(
                "<pre style='font-size:85%;background:#f6f8fa;padding:6px;margin:4px 0'>"
                f"{html.escape(self.details)}</pre>"
            )
        footer = html.escape(self.footer())
        if not self.correct:
            footer += f' · stuck? <code>wb.exercise("{self.id}").hint()</code>'
        body.append(small(footer))
        return box("".join(body), colour)
