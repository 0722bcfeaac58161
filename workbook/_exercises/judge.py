"""The verdict's sentence: from what a run left (or what a quick look found), one verdict and
one sentence the learner can act on, with the learner's own frames as details.

Three verdicts (learntools): "not attempted" (the stub still raises NotImplementedError("exNN:
...")), "incorrect" (one sentence on what is wrong), "correct" (only on a signed record that
every collected test passed: see the plugin).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from .._paths import ROOT
from .files import label
from .model import Meta, Verdict
from .quick import compile_failure, untouched
from .run import OUTPUT_LIMIT, Run, outcomes_of

Judged = tuple[Verdict, str, str]  # the verdict, its sentence, the details under it


def quick_verdict(meta: Meta, folder: Path, own: Path) -> Judged | None:
    """The verdict the tests would give, when it is known without them (see quick)."""
    path = folder / Path(meta.file).name
    failure = compile_failure(path)
    if failure is not None:
        stub = _stub_message(meta.id, [failure["learner"]])  # as judge reads it
        if stub is None:
            return Verdict.INCORRECT, *_explain(meta, folder, failure)
    if folder != own:  # a wrong answer may keep a stub's raise: its tests decide
        return None
    original = untouched(path)
    stub = _stub_message(meta.id, [original]) if original is not None else None
    return None if stub is None else _not_attempted(meta, folder, stub)


def _not_attempted(meta: Meta, tree: Path, stub: str) -> Judged:
    where = label(tree / Path(meta.file).name)
    return (
        Verdict.NOT_ATTEMPTED,
        f"{where} still raises NotImplementedError({stub!r}): write your code where it says"
        f" TODO({meta.id}).",
        "",
    )


def judge(meta: Meta, tree: Path, run: Run) -> Judged:
    """The verdict on a run: a process that lingered after passing, then its record."""
    return _lingered(run) or _judge_record(meta, tree, run)


def _judge_record(meta: Meta, tree: Path, run: Run) -> Judged:
    items, outcomes = outcomes_of(run.record)
    record = run.record or {}
    ended = run.returncode == 0 or run.lingered  # lingered: stopped after the tests ended
    finished = not (run.timed_out or run.flooded) and ended
    if finished and run.all_passed:
        module_file = record.get("module_file")
        expected = tree / Path(meta.file).name
        if module_file and Path(module_file).resolve() != expected.resolve():
            return (
                Verdict.INCORRECT,
                f"The tests imported {meta.module} from {label(module_file)}, not from"
                f" {label(tree)}, so they did not test your file.",
                "",
            )
        if run.strays:
            return (
                Verdict.INCORRECT,
                f"The tests passed, but your code left {_plural(len(run.strays), 'process')}"
                " running after they ended; the check stopped them. Stop what you start (wait"
                " for it, or terminate it).",
                "\n".join(run.strays),
            )
        return (
            Verdict.CORRECT,
            "The test passed." if len(items) == 1 else f"All {len(items)} tests passed.",
            "",
        )
    failures = record.get("failures", [])
    texts = [f.get(k) or "" for f in failures for k in ("message", "text")]
    stub = _stub_message(meta.id, [*texts, run.output.decode(errors="replace")])
    if stub is not None:
        return _not_attempted(meta, tree, stub)
    return Verdict.INCORRECT, *_explain_failure(meta, tree, run, items, outcomes)


def _lingered(run: Run) -> Judged | None:
    """Every test passed, but the process did not end: say so, not "did not finish"."""
    if not (run.lingered and run.all_passed):
        return None
    threads = [str(name) for name in (run.record or {}).get("threads", [])]
    if not threads:  # not a thread of the code (slow clean-up, say): judge the record
        return None
    which = f" (still running: {', '.join(repr(t) for t in threads[:5])})"
    return (
        Verdict.INCORRECT,
        f"The tests passed, but your code kept the test process from ending{which}, so the"
        " check stopped it. Stop what you start: end your thread (signal it and join it), or"
        " make it a daemon thread.",
        "",
    )


def with_leftovers(details: str, run: Run) -> str:
    """Name what the code left running (the check has stopped it), whatever the verdict."""
    if not run.strays or "\n".join(run.strays) in details:
        return details
    listed = "Left running by your code (the check stopped it):\n" + "\n".join(run.strays)
    return f"{details}\n{listed}" if details else listed


def _stub_message(exercise_id: str, texts: list[str]) -> str | None:
    """The stub's message when a failure shows NotImplementedError("exNN: ...")."""
    pattern = re.compile(rf"NotImplementedError(?::\s*|\(\s*['\"])({exercise_id}:[^\n'\"]*)")
    for text in texts:
        match = pattern.search(text)
        if match:
            return match.group(1).strip()
    return None


def _explain_failure(
    meta: Meta, tree: Path, run: Run, items: list[str], outcomes: dict[str, str]
) -> tuple[str, str]:
    tail = _tail(run.output.decode(errors="replace"))
    if run.timed_out:
        where = f"during {_test_name(run.current_test)}" if run.current_test else "while loading"
        return (
            f"The check did not finish within {meta.timeout:g} s (the time limit of {meta.id}),"
            f" so it was stopped {where}. Look for an endless loop, or a wait with no time-out.",
            "",
        )
    if run.flooded:
        return (
            f"Your code printed more than {OUTPUT_LIMIT // 1_000_000} MB of output, so the check"
            " stopped it. Look for a print() in a loop.",
            "",
        )
    if run.forged:
        return (
            "The test results could not be verified: the results file was changed after the"
            " tests wrote it, so this cannot count. Does your code write to files it does not"
            " own?",
            "",
        )
    record = run.record
    if record is None:
        return (
            f"The tests stopped before reporting results (the test process exited with code"
            f" {run.returncode}). Does your code call sys.exit() or os._exit(), or end its own"
            " process?",
            tail,
        )
    failures = record.get("failures", [])
    failed = [f for f in failures if f.get("outcome") == "failed"]
    if failed:
        return _explain(meta, tree, failed[0])
    if not items:
        skipped = next((f.get("text", "") for f in failures if f.get("outcome") == "skipped"), "")
        if skipped:
            reason = re.search(r"Skipped: ([^'\"]*)", skipped)
            because = f" ({reason.group(1).strip()})" if reason else ""
            return f"The tests were skipped{because}; a skipped test shows nothing works.", ""
        return f"No tests were found in {meta.tests}, so nothing shows your code works.", tail
    for item in items:
        outcome = outcomes.get(item, "not run")
        if outcome != "passed":
            reason = next((f.get("text", "") for f in failures if f["nodeid"] == item), "")
            return (
                f"{_test_name(item)} was {outcome}, so the exercise cannot count as correct.",
                reason,
            )
    return f"The test run failed (pytest exit status {record.get('exitstatus')}).", tail


def _explain(meta: Meta, tree: Path, failure: dict[str, Any]) -> tuple[str, str]:
    """One sentence for one failure; the learner's own frames as details when they crashed."""
    kind, message = failure.get("type") or "", failure.get("message") or ""
    name, learner = failure.get("name"), _relative_paths(failure.get("learner") or "")
    first = message.strip().splitlines()[0] if message.strip() else ""
    test = _test_name(failure["nodeid"]) if failure.get("when") != "collect" else ""
    during = f"during {test}" if test else "while being imported"
    if kind == "SystemExit":
        return (
            f"Your code called sys.exit({failure.get('code')}) {during}: a module or function"
            " must not end the process. Return a value or raise an exception instead.",
            learner,
        )
    if kind in ("SyntaxError", "IndentationError", "TabError") and learner:
        line = re.search(r"line (\d+)", learner)
        at = f" at line {line.group(1)}" if line else ""
        return f"Your file has a syntax error{at}: {first.split(' (')[0]}.", learner
    if kind == "ModuleNotFoundError" and name == meta.module:
        return (
            f"There is no {Path(meta.file).name} in {label(tree)}, where the tests import it"
            f" from. Restore it with `workbook reset {meta.id}`.",
            "",
        )
    if kind == "ModuleNotFoundError" and learner:
        return f"Your file imports {name!r}, which is not installed here.", learner
    missing = re.search(r"cannot import name '(\w+)'", message) if name == meta.module else None
    missing = missing or re.search(rf"module '{meta.module}' has no attribute '(\w+)'", message)
    if missing:
        return (
            f"Your file has no {missing.group(1)!r}, which the tests use. Did you rename or"
            " delete it? Keep the names the stub gave you.",
            "",
        )
    if learner:
        return (
            f"Your code raised {kind}: {first}" if first else f"Your code raised {kind}.",
            learner,
        )
    if kind == "AssertionError" and message and not message.startswith("assert "):
        sentence = message.split("\nassert ")[0].strip()
        head, _, rest = sentence.partition("\n")
        return _short(head), _tail(rest)
    text = failure.get("text") or ""
    if kind:
        return _short(f"{test or 'Loading the tests'} failed with {kind}: {first}"), _tail(text)
    return _short(f"{test or 'Loading the tests'} failed."), _tail(text)


def _plural(count: int, noun: str) -> str:
    return (
        f"{count} {noun}"
        if count == 1
        else f"{count} {noun}es"
        if noun.endswith("s")
        else f"{count} {noun}s"
    )


def _test_name(nodeid: str) -> str:
    return nodeid.rpartition("::")[2] or nodeid


def _short(text: str, limit: int = 500) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _tail(text: str, lines: int = 25) -> str:
    kept = [line[:300] for line in text.strip().splitlines()[-lines:]]
    return "\n".join(kept)


def _relative_paths(text: str) -> str:
    return text.replace(f"{ROOT}{os.sep}", "")
