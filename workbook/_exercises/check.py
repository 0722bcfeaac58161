"""check(): one exercise's tests against a tree of files, and the verdict.

A quick look first when asked (the untouched stub, a file that does not compile), else a
test process (fresh, or forked by the warm check server); then the judgement, and, for the
learner's own folder, the progress file.
"""

from __future__ import annotations

import time
from pathlib import Path

from .._errors import WorkbookError
from .._paths import ROOT
from . import check_server
from .files import label
from .judge import judge, quick_verdict, with_leftovers
from .model import Meta, get
from .progress import record_verdict
from .result import CheckResult
from .run import hit_interpreter_bug, outcomes_of, run_tests


def check(
    exercise_id: str | int | Meta,
    tree: str | Path | None = None,
    *,
    metadata: str | Path | None = None,
    quick: bool = False,
    warm: bool | None = None,
    shared: bool = False,
) -> CheckResult:
    """Run the tests of `exercise_id` (or of a Meta already loaded) on the module in `tree`
    and return the verdict.

    `tree` is the folder holding the module under test: by default the learner's (exercises/);
    solutions/ for the solution; any folder for the tests of wrong answers. A relative `tree`
    is relative to the repository root, like every path in exercises.toml. Only checks of
    the learner's own folder are recorded in the progress file.

    `quick` (what the notebook handle and the CLI ask for): answer at once, without a test
    process, when the learner's file is the untouched stub or does not compile. The dev
    check leaves it off: it proves, through the tests, the verdicts the shortcuts give.
    `warm` (by default as `quick`): run the tests in a process forked by this process's warm
    check server (check_server), which pays off from the second check on; with `shared`
    (the shell's checks), by the server all shell commands share (shared_server).
    """
    meta = exercise_id if isinstance(exercise_id, Meta) else get(exercise_id, metadata)
    own = meta.file_path.parent.resolve()
    folder = own if tree is None else (ROOT / tree).resolve()
    if not folder.is_dir():
        raise WorkbookError(
            f"Cannot check {meta.id} in {folder}: no such folder.",
            "pass the folder that holds the module under test, such as solutions/.",
        )
    started = time.monotonic()
    answer = quick_verdict(meta, folder, own) if quick else None
    run = None
    if answer is None:
        forked = check_server.enabled(quick if warm is None else warm)
        run = run_tests(meta, folder, forked, shared)
        if hit_interpreter_bug(run):  # Python's fault, not the learner's: once more
            run = run_tests(meta, folder, forked, shared)
        verdict, message, details = judge(meta, folder, run)
        details = with_leftovers(details, run)
    else:
        verdict, message, details = answer
    record = run.record if run is not None else None
    items, outcomes = outcomes_of(record)
    result = CheckResult(
        id=meta.id,
        verdict=verdict,
        message=message,
        details=details,
        duration=time.monotonic() - started,
        passed=sum(outcomes.get(i) == "passed" for i in items),
        collected=len(items),
        title=meta.title,
        tree=label(folder),
        failed=sum(outcomes.get(i, "passed") != "passed" for i in items),
        file=label(folder / Path(meta.file).name),
        tests_time=float((record or {}).get("tests_time", 0.0)),
        warm=run is not None and run.warm,
    )
    if folder == own:
        record_verdict(meta.id, verdict)
    return result
