"""A request's background tasks run one after another; when one raises, the rest never run.

The client got its 200 before any task started, so nobody is told: the only trace is the
traceback in the server's log.
"""

from __future__ import annotations

from collections import defaultdict

from fastapi import BackgroundTasks, FastAPI

app = FastAPI(title="Signup with follow-up tasks")
TASKS_RUN: defaultdict[str, list[str]] = defaultdict(list)  # email -> tasks that completed


def send_welcome_email(email: str) -> None:
    TASKS_RUN[email].append("send_welcome_email")


def sync_to_crm(email: str) -> None:
    raise ConnectionError("CRM API answered 503 Service Unavailable")  # the CRM is down


def add_to_newsletter(email: str) -> None:
    TASKS_RUN[email].append("add_to_newsletter")


@app.post("/signup")
def signup(email: str, background_tasks: BackgroundTasks) -> dict[str, str]:
    background_tasks.add_task(send_welcome_email, email)
    background_tasks.add_task(sync_to_crm, email)
    background_tasks.add_task(add_to_newsletter, email)  # never runs: sync_to_crm raised
    return {"email": email, "status": "signed up"}


@app.get("/signup/{email}/tasks")
def tasks_run(email: str) -> list[str]:
    return TASKS_RUN[email]
