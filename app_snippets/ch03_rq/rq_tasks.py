"""Job functions for chapter 03. A worker imports each one by its dotted path
(`app_snippets.ch03_rq.rq_tasks.send_email`), so they live in a module, never in a notebook cell.

Each job records what happened to it in Redis (attempt times, the pipeline's steps), so
that the notebook can measure it from outside the worker.
"""

from __future__ import annotations

import time

from redis import Redis
from rq import get_current_job

from app_snippets.settings import redis_url, seconds


def redis() -> Redis:
    return Redis.from_url(redis_url(), decode_responses=True)


def send_email(to: str, subject: str) -> str:
    """An email job: pretend to talk to an email provider for one second."""
    time.sleep(seconds(1))
    if not to or "@" not in to:
        raise ValueError(f"cannot send to {to!r}: not an email address")
    return f"sent {subject!r} to {to}"


def attempts_key(name: str) -> str:
    return f"rq-demo:attempts:{name}"


def flaky(name: str, failures: int) -> str:
    """Fail the first `failures` attempts (a provider that is down), then succeed.

    Every attempt appends its start time to a Redis list, so retries can be timed."""
    with redis() as store:
        attempt = store.rpush(attempts_key(name), time.time())
    if attempt <= failures:
        raise ConnectionError(f"{name}: provider unavailable (attempt {attempt})")
    return f"{name}: ok on attempt {attempt}"


def type_names(*values: object) -> list[str]:
    """What the job received: the type of each argument, after the trip through Redis."""
    return [type(value).__name__ for value in values]


def sleep_for(duration: float) -> float:
    """Sleep `duration` seconds (already scaled by the caller) and return it."""
    time.sleep(duration)
    return duration


def fetch_orders(day: str) -> list[int]:
    """Pipeline step 1: the day's order totals, in cents."""
    if day == "never":
        raise LookupError(f"no orders for {day!r}")
    return [1250, 899, 4100]


def total_orders() -> int:
    """Pipeline step 2: sum what step 1 returned (this job's dependency)."""
    job = get_current_job()
    assert job is not None and job.dependency is not None
    return sum(job.dependency.return_value())


def publish_total() -> str:
    """Pipeline step 3: publish what step 2 computed."""
    job = get_current_job()
    assert job is not None and job.dependency is not None
    return f"published: {job.dependency.return_value() / 100:.2f} EUR"
