"""What survives the trip through Redis: task arguments and results are JSON.

Pass IDs, not objects: the task loads what it needs from the database itself, fresh, in
the worker's process.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from celery import Celery

from app_snippets.settings import redis_url

celery_app = Celery("celery_serialization", broker=redis_url(), backend=redis_url())
celery_app.conf.update(
    task_default_queue="serialization",
    task_serializer="json",  # the default, spelled out: never accept pickle from Redis
    result_serializer="json",
    accept_content=["json"],
)


@dataclass
class User:
    id: int
    email: str


def database() -> sqlite3.Connection:
    """A stand-in database with one user (a real app opens its own connection per task)."""
    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)")
    connection.execute("INSERT INTO users VALUES (42, 'ada@example.com')")
    return connection


@celery_app.task
def echo(value: object) -> object:
    """Returns its argument: what came back is what the trip made of it."""
    return value


@celery_app.task
def send_welcome(user: User) -> str:
    """The tempting version: hand the task the object you already have."""
    return f"welcome sent to {user.email}"


@celery_app.task
def send_welcome_by_id(user_id: int) -> str:
    """The version that works: an id in, the row loaded here."""
    with database() as connection:
        (email,) = connection.execute("SELECT email FROM users WHERE id = ?", (user_id,)).fetchone()
    return f"welcome sent to {email}"
