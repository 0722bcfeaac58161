"""time_limit: the TimeLimit middleware interrupts an actor that runs too long.

It raises TimeLimitExceeded *inside* the actor's thread, which Python can only do between
two bytecodes: a loop of short steps stops within the check interval (1 s), while one
long blocking call (a sleep, a socket read, a C extension) runs to its end first.
The middleware's watchdog starts when a worker process boots: run these actors under the
`dramatiq` command, whose `--queues time-limits` keeps them on that worker.
"""

from __future__ import annotations

import time

import dramatiq
from redis import Redis

from app_snippets.ch04_dramatiq.dramatiq_broker import broker
from app_snippets.settings import redis_url

QUEUE = "time-limits"
TIME_LIMIT_MS = 1_000  # the default is 10 minutes (600_000 ms)


def record(run_id: str, **fields: float | str) -> None:
    with Redis.from_url(redis_url()) as client:
        client.hset(f"time-limits:{run_id}", mapping=fields)


@dramatiq.actor(broker=broker, queue_name=QUEUE, time_limit=TIME_LIMIT_MS, max_retries=0)
def crunch(run_id: str, duration: float) -> None:
    """Work in small steps (as a loop over rows or pages does)."""
    record(run_id, started=time.time())
    try:
        deadline = time.monotonic() + duration
        while time.monotonic() < deadline:
            time.sleep(0.01)  # one step
    except BaseException as exc:  # TimeLimitExceeded is not an Exception: catch it to record it
        record(run_id, ended=time.time(), outcome=type(exc).__name__)
        raise
    record(run_id, ended=time.time(), outcome="finished")


@dramatiq.actor(broker=broker, queue_name=QUEUE, time_limit=TIME_LIMIT_MS, max_retries=0)
def blocking_call(run_id: str, duration: float) -> None:
    """One long blocking call, such as a request to a server that does not answer."""
    record(run_id, started=time.time())
    try:
        time.sleep(duration)
    except BaseException as exc:
        record(run_id, ended=time.time(), outcome=type(exc).__name__)
        raise
    record(run_id, ended=time.time(), outcome="finished")
