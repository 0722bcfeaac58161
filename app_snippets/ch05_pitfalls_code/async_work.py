"""Async code inside a worker: the client that outlives its event loop, and what works.

The workers of all three queues call plain functions. `asyncio.run()` in a task makes a new
event loop for that call and closes it after; an async client created once, at import, keeps
connections that belong to the first loop that used it, and the next loop fails with
"Event loop is closed" or "attached to a different loop". A client per task (made and closed
on the loop that runs the task) works on every queue; RQ runs `async def` jobs itself, and
Dramatiq's AsyncIO middleware runs `async def` actors on one loop for the worker's life.
"""

from __future__ import annotations

import asyncio

import dramatiq
import redis.asyncio as aioredis

from app_snippets.ch05_pitfalls_code.brokers import broker, celery_app
from app_snippets.settings import redis_url

ASYNC_QUEUE = "ch05-async"

shared_client = aioredis.Redis.from_url(redis_url())  # the mistake: made once, at import


async def count_with_shared_client(run: str) -> int:
    return await shared_client.incr(f"ch05:async:{run}")


async def count_with_own_client(run: str) -> int:
    """The fix: a client made, used and closed on the loop that runs this task."""
    async with aioredis.Redis.from_url(redis_url()) as client:
        return await client.incr(f"ch05:async:{run}")


def count_shared(run: str) -> int:
    """The mistake, as a sync task: a new loop per call, the same client every time.

    (With a time limit: two tasks using the client at once can also wait forever.)"""
    return asyncio.run(asyncio.wait_for(count_with_shared_client(run), timeout=5))


def count_own(run: str) -> int:
    """Celery's way: a loop per task (asyncio.run) and a client per loop."""
    return asyncio.run(count_with_own_client(run))


celery_count_shared = celery_app.task(name="ch05.count_shared")(count_shared)
celery_count_own = celery_app.task(name="ch05.count_own")(count_own)
# RQ: enqueue count_shared (the mistake), or the coroutine function count_with_own_client
# itself: RQ sees a coroutine and runs it with asyncio.run.
# Dramatiq: an `async def` actor runs on the AsyncIO middleware's loop (see brokers.py).
OPTIONS = {"broker": broker, "queue_name": ASYNC_QUEUE, "store_results": True, "max_retries": 0}
dramatiq_count_shared = dramatiq.actor(count_shared, actor_name="ch05_count_shared", **OPTIONS)
dramatiq_count_own = dramatiq.actor(count_with_own_client, actor_name="ch05_count_own", **OPTIONS)
