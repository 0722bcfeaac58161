"""Exercise 03: a multi-step background job that records how it went.

POST /imports takes product lines ("name,quantity") and imports them in the background, in
three steps: parse, validate, save. The client gets a job id at once and asks
GET /imports/{job_id} for the job's status record, kept in Redis.

Today the record says "pending" forever: the job never updates it. When a step raises,
the job dies silently (a traceback in the server log, and nothing else). Make the job
record its progress and its outcome, failure included.

Check your work: `wb.exercise("ex03").check()` in the notebook, or
`python -m workbook check ex03` in a terminal.
"""

from __future__ import annotations

import logging
import time
import uuid

from fastapi import BackgroundTasks, FastAPI, HTTPException
from pydantic import BaseModel
from redis import Redis

from app_snippets.settings import redis_url, seconds

app = FastAPI(title="Product import")
logger = logging.getLogger(__name__)  # Changed: added, to log the failure's traceback


class ImportRequest(BaseModel):
    lines: list[str]  # e.g. ["apple,3", "pear,5"]


def redis() -> Redis:
    return Redis.from_url(redis_url(), decode_responses=True)


def save_status(job_id: str, **fields: str) -> None:
    """Set fields of the job's status record, e.g. save_status(job_id, status="running")."""
    with redis() as client:
        client.hset(f"ex03:import:{job_id}", mapping=fields)


def read_status(job_id: str) -> dict[str, str]:
    with redis() as client:
        return client.hgetall(f"ex03:import:{job_id}")


# The three steps. Each one is slow, and parse and validate raise ValueError on bad input.


def parse(lines: list[str]) -> list[tuple[str, int]]:
    time.sleep(seconds(0.5))
    rows = []
    for number, line in enumerate(lines, start=1):
        name, _, quantity = line.partition(",")
        if not quantity.strip().lstrip("-").isdigit():
            raise ValueError(f"line {number}: quantity {quantity.strip()!r} is not a number")
        rows.append((name.strip(), int(quantity)))
    return rows


def validate(rows: list[tuple[str, int]]) -> list[tuple[str, int]]:
    time.sleep(seconds(0.5))
    for name, quantity in rows:
        if quantity < 0:
            raise ValueError(f"{name}: quantity {quantity} is negative")
    return rows


def save(rows: list[tuple[str, int]]) -> None:
    time.sleep(seconds(0.5))
    with redis() as client:
        for name, quantity in rows:
            client.hset("ex03:products", name, quantity)


def run_import(job_id: str, lines: list[str]) -> None:
    # Changed: every step runs inside try, and the record says which step is running, so a
    # client polling GET /imports/{job_id} sees the progress.
    try:
        rows = parse(lines)
        rows = validate(rows)
        save(rows)
        # Wrong: "running" only once the steps are over, just before "done".
        save_status(job_id, status="running")

    except Exception as exc:
        # Changed: a failure is recorded, with its message, instead of dying silently. The
        # "step" field still names the step that failed. The traceback goes to the log.
        save_status(job_id, status="failed", error=f"{type(exc).__name__}: {exc}")
        logger.exception("import %s failed", job_id)
        return
    # Changed: success is recorded too.
    save_status(job_id, status="done")


@app.post("/imports", status_code=202)
def start_import(request: ImportRequest, background_tasks: BackgroundTasks) -> dict[str, str]:
    job_id = uuid.uuid4().hex
    save_status(job_id, status="pending")
    background_tasks.add_task(run_import, job_id, request.lines)
    return {"job_id": job_id, "status": "pending"}


@app.get("/imports/{job_id}")
def import_status(job_id: str) -> dict[str, str]:
    record = read_status(job_id)
    if not record:
        raise HTTPException(status_code=404, detail=f"No import {job_id}")
    return record
