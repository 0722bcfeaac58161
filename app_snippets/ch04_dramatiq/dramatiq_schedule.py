"""Scheduling with Dramatiq alone: a delayed message, and a periodic job.

Dramatiq has no scheduler process (and no "Dramatiq-Cron"). A message can wait before it
runs: `send_with_options(delay=ms)` parks it in the queue's delay queue until it is due. A
periodic job is then something that sends a message on a schedule: cron or a small loop
calling `.send()`, APScheduler, the periodiq package, or, as `tick` below, an actor that
sends its own next run with a delay.
"""

from __future__ import annotations

import time

import dramatiq
from redis import Redis

from app_snippets.ch04_dramatiq.dramatiq_broker import broker
from app_snippets.settings import redis_url

QUEUE = "schedule"


def record(run_id: str, what: str) -> None:
    with Redis.from_url(redis_url()) as client:
        client.rpush(f"schedule:{run_id}:{what}", time.time())


def times(run_id: str, what: str) -> list[float]:
    with Redis.from_url(redis_url()) as client:
        return [float(t) for t in client.lrange(f"schedule:{run_id}:{what}", 0, -1)]


@dramatiq.actor(broker=broker, queue_name=QUEUE, max_retries=0)
def remind(run_id: str) -> None:
    """Sent with a delay: records when it ran."""
    record(run_id, "reminded")


@dramatiq.actor(broker=broker, queue_name=QUEUE, max_retries=0)
def tick(run_id: str, interval_ms: int, remaining: int) -> None:
    """A periodic job: do the work, then send the next run, `interval_ms` from now.

    `remaining` bounds the demo; a real one runs until told to stop. If a send fails the
    chain ends, so a production job also needs something that notices missing ticks.
    """
    record(run_id, "ticks")
    if remaining > 1:
        tick.send_with_options(args=(run_id, interval_ms, remaining - 1), delay=interval_ms)
