"""Checks for exercise 03: the import job's status record tells the truth at every moment.

"Correct" means (the three steps and run_import are watched by probes, and the record is
read, through GET /imports/{job_id}'s store, when each step starts and ends):
1. while any step runs, the record reads "running" (not "pending", not "done" yet);
2. "done" only after the last step (save) has saved, and a good import ends "done";
3. a step that raises leaves the record "failed", with the exception's message in "error",
   for every failure a step can have: a ValueError from parse or validate, and a Redis error
   from the save step (the check makes the products hash another type of key, so Redis
   itself refuses the write);
4. a failed record stays failed after the job has ended (nothing writes "done" over it).
"""

from __future__ import annotations

import pytest
from conftest import Call, Probe

from app_snippets.settings import seconds

JOB = 3 * seconds(0.5)  # three steps
WITHIN = 2 * JOB + 10  # generous: a busy machine adds its share
STEPS = ("parse", "validate", "save")


@pytest.fixture
def jobs(learner, redis_server, serve, monkeypatch):
    """The app on a server, with the job and its steps watched: (api, run_import's probe)."""
    current: dict[str, str] = {}

    def job_started(call: Call) -> None:
        current["job_id"] = call.args[0]

    def sample(when: str) -> object:
        def read(call: Call) -> None:
            call.notes[when] = learner.read_status(current.get("job_id", "")).get("status")

        return read

    probes = {
        step: Probe(monkeypatch, learner, step, before=sample("at start"), after=sample("at end"))
        for step in STEPS
    }
    runs = Probe(monkeypatch, learner, "run_import", before=job_started)
    api = serve(learner.app)
    yield api, runs, probes
    redis_server.client().delete("ex03:products")


def run_job(jobs, lines: list[str]) -> tuple[dict[str, str], list]:
    """Start an import and wait for run_import to end: (the final record, the step calls)."""
    api, runs, _ = jobs
    body = api.request("POST", "/imports", "POST /imports", json={"lines": lines}).json()
    job_id = body["job_id"]
    runs.ended(WITHIN, unless=api.raised)
    record = api.request("GET", f"/imports/{job_id}", "GET /imports/{job_id}").json()
    return record, [c for c in runs.calls if c.given(job_id)]


def test_every_step_runs_while_the_record_reads_running(jobs):
    api, _, probes = jobs
    record, _ = run_job(jobs, ["apple,3", "pear,5"])
    for step in STEPS:
        calls = probes[step].calls
        assert calls, f"The {step} step never ran in a good import.\n{api.log()}"
        status = calls[-1].notes.get("at start")
        assert status != "pending", (
            f"When the {step} step started, the job's record still read 'pending': the job"
            " never updates it while the steps run, so a client cannot tell a started job from"
            " a waiting one."
        )
        assert status != "done", (
            f"The record read 'done' when the {step} step started: 'done' must wait until"
            " the last step has saved."
        )
        assert status == "running", (
            f"When the {step} step started, the record read {status!r}, not 'running'."
        )
    saved = probes["save"].calls[-1].notes.get("at end")
    assert saved != "done", (
        "The record read 'done' while the save step was still running: write 'done' only"
        " after the last step has saved."
    )
    assert record.get("status") == "done", (
        f"A good import ended with the record {record}, not with status 'done'.\n{api.log()}"
    )


@pytest.mark.parametrize(
    ("lines", "step", "message"),
    [
        (["apple,3", "pear,lots"], "parse", "'lots' is not a number"),
        (["apple,3", "pear,-5"], "validate", "pear: quantity -5 is negative"),
        (["apple,3", "pear,5"], "save", "WRONGTYPE"),
    ],
    ids=["parse-ValueError", "validate-ValueError", "save-RedisError"],
)
def test_a_failing_step_is_recorded_as_failed_with_its_error(jobs, redis_server, lines, step,
                                                              message):  # fmt: skip
    api, _, _ = jobs
    failure = "a ValueError" if step != "save" else "a Redis error"
    if step == "save":  # Redis refuses to write the products: the key holds a string
        redis_server.client().set("ex03:products", "not a hash")
    record, _ = run_job(jobs, lines)
    status = record.get("status")
    assert status != "running" and status != "pending", (
        f"{failure[0].upper()}{failure[1:]} in the {step} step left the record at {status!r}"
        " after the job had ended: the failure is not recorded, so the client waits"
        f" forever.\n{api.log()}"
    )
    assert status != "done", (
        f"After {failure} in the {step} step, the record reads 'done' once the job has ended:"
        " a failed job must stay 'failed' (nothing may write 'done' after the failure)."
    )
    assert status == "failed", (
        f"After {failure} in the {step} step, the record reads {status!r}, not 'failed'."
    )
    assert message in record.get("error", ""), (
        f"The failed job's record is {record}: it should carry the exception's message in"
        " its 'error' field, so the client can tell what went wrong."
    )
