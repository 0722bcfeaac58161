"""Exercise 01: move slow work out of the request path.

POST /signup sends a welcome email before it answers, so every new user waits for the
email provider (two seconds here). Make the endpoint answer at once and still send the
email, after the response. GET /outbox lists the emails sent so far.

Check your work: `wb.exercise("ex01").check()` in the notebook, or
`python -m workbook check ex01` in a terminal.
"""

from __future__ import annotations

from fastapi import BackgroundTasks, FastAPI
from pydantic import BaseModel
from redis import Redis

from app_snippets.settings import redis_url

app = FastAPI(title="Signup")
OUTBOX_KEY = "ex01:outbox"  # a Redis list of the addresses a welcome email went to


class Signup(BaseModel):
    email: str


def send_welcome_email(email: str) -> None:
    """Stands for a call to an email provider: slow, and nothing the client waits for."""
    # Wrong: the provider's delay is deleted, so the answer is fast, but the email is
    # still sent here, before the response.
    with Redis.from_url(redis_url(), decode_responses=True) as redis:
        redis.rpush(OUTBOX_KEY, email)


@app.post("/signup", status_code=202)
def signup(form: Signup, background_tasks: BackgroundTasks) -> dict[str, str]:
    send_welcome_email(form.email)

    return {"email": form.email, "status": "signed up"}


@app.get("/outbox")
def outbox() -> list[str]:
    with Redis.from_url(redis_url(), decode_responses=True) as redis:
        return redis.lrange(OUTBOX_KEY, 0, -1)
