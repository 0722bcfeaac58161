"""A slow endpoint, and the same work handed to a background task.

`build_report` stands for any slow job (a PDF, an email, a resize). The inline endpoint
makes the client wait for it; the background endpoint answers 202 at once and lets the
client poll for the result.
"""

from __future__ import annotations

import time
import uuid

from fastapi import BackgroundTasks, FastAPI, HTTPException

from app_snippets.settings import seconds

app = FastAPI(title="Slow report")
REPORTS: dict[str, str] = {}  # report id -> status; a real app keeps this in a database


def build_report(report_id: str) -> None:
    time.sleep(seconds(2))  # the slow part
    REPORTS[report_id] = "done"


@app.post("/reports/inline", status_code=201)
def create_report_inline() -> dict[str, str]:
    report_id = uuid.uuid4().hex
    build_report(report_id)
    return {"id": report_id, "status": REPORTS[report_id]}


@app.post("/reports/background", status_code=202)
def create_report_in_background(background_tasks: BackgroundTasks) -> dict[str, str]:
    report_id = uuid.uuid4().hex
    REPORTS[report_id] = "pending"
    background_tasks.add_task(build_report, report_id)
    return {"id": report_id, "status": "pending"}


@app.get("/reports/{report_id}")
def read_report(report_id: str) -> dict[str, str]:
    if report_id not in REPORTS:
        raise HTTPException(status_code=404, detail=f"No report {report_id}")
    return {"id": report_id, "status": REPORTS[report_id]}
