"""Retries: Dramatiq's default schedule, and actors that fail on a fast clock.

Every actor here calls a partner API that answers with the HTTP statuses it is given, one
per attempt (the last one repeats), and records each attempt's time in Redis.
"""

from __future__ import annotations

import time

import dramatiq
from dramatiq import Message
from dramatiq.common import compute_backoff
from dramatiq.middleware import Retries
from redis import Redis

from app_snippets.ch04_dramatiq.dramatiq_broker import broker
from app_snippets.settings import redis_url, seconds

QUEUE = "retries"
MIN_BACKOFF = int(seconds(0.5) * 1000)  # ms: the first retry after 0.5-1 s (default 15-30 s)
MAX_BACKOFF = int(seconds(8) * 1000)  # ms: no wait longer than 8 s (default 7 days)


def default_schedule() -> list[float]:
    """Seconds from the first attempt to each retry, drawn as the Retries middleware draws
    them with its defaults (one random draw: the jitter differs each time)."""
    defaults = Retries()  # max_retries=20, min_backoff 15 s, max_backoff 7 days
    elapsed_ms, schedule = 0, []
    for retries_so_far in range(defaults.max_retries):
        _, delay_ms = compute_backoff(
            retries_so_far, factor=defaults.min_backoff, max_backoff=defaults.max_backoff
        )
        elapsed_ms += delay_ms
        schedule.append(elapsed_ms / 1000)
    return schedule


class PartnerError(Exception):
    """The partner API answered with an error status."""

    def __init__(self, status: int) -> None:
        super().__init__(f"partner API answered {status}")
        self.status = status


class PartnerClientError(PartnerError):
    """A 4xx: our request is wrong (404, 422, ...). Sending it again will not help."""


def attempts_key(run_id: str) -> str:
    return f"retries:{run_id}:attempts"


def call_partner(run_id: str, statuses: list[int]) -> int:
    """One attempt: record its time, then answer the next scripted status."""
    with Redis.from_url(redis_url()) as client:
        attempt = client.rpush(attempts_key(run_id), time.time())
    status = statuses[min(attempt, len(statuses)) - 1]
    if 400 <= status < 500:
        raise PartnerClientError(status)
    if status >= 500:
        raise PartnerError(status)
    return status


def attempt_times(run_id: str) -> list[float]:
    with Redis.from_url(redis_url()) as client:
        return [float(t) for t in client.lrange(attempts_key(run_id), 0, -1)]


# 1. Dramatiq's defaults on a fast clock: retry on any exception, exponential backoff.
@dramatiq.actor(
    broker=broker,
    queue_name=QUEUE,
    max_retries=4,
    min_backoff=MIN_BACKOFF,
    max_backoff=MAX_BACKOFF,
    store_results=True,
)
def sync_inventory(run_id: str, statuses: list[int]) -> int:
    return call_partner(run_id, statuses)


# 2. Fewer retries.
@dramatiq.actor(broker=broker, queue_name=QUEUE, max_retries=2, min_backoff=MIN_BACKOFF)
def sync_prices(run_id: str, statuses: list[int]) -> int:
    return call_partner(run_id, statuses)


# 3. `throws`: these exceptions are expected; the message fails at once, without a retry.
@dramatiq.actor(
    broker=broker, queue_name=QUEUE, min_backoff=MIN_BACKOFF, throws=(PartnerClientError,)
)
def sync_orders(run_id: str, statuses: list[int]) -> int:
    return call_partner(run_id, statuses)


def retry_server_errors(retries_so_far: int, exception: BaseException) -> bool:
    """retry_when: called after each failure; True retries, False dead-letters the message.
    It replaces max_retries, so it must bound the retries itself."""
    status = getattr(exception, "status", 0)
    return status >= 500 and retries_so_far < 3


# 4. `retry_when`: decide per failure, from the exception and the retries so far.
@dramatiq.actor(
    broker=broker, queue_name=QUEUE, min_backoff=MIN_BACKOFF, retry_when=retry_server_errors
)
def sync_customers(run_id: str, statuses: list[int]) -> int:
    return call_partner(run_id, statuses)


def dead_letters(queue_name: str = QUEUE) -> list[tuple[float, Message]]:
    """(when it was dead-lettered, the message) for each message in the queue's dead-letter
    set. The Redis broker keeps them in `dramatiq:<queue>.XQ` (a sorted set of ids, scored by
    time in ms) and `dramatiq:<queue>.XQ.msgs` (a hash of id -> message) for 7 days."""
    key = f"{broker.namespace}:{queue_name}.XQ"
    entries = broker.client.zrange(key, 0, -1, withscores=True)
    if not entries:
        return []
    data = broker.client.hmget(f"{key}.msgs", [message_id for message_id, _ in entries])
    return [
        (score / 1000, Message.decode(raw))
        for (_, score), raw in zip(entries, data, strict=True)
        if raw is not None
    ]
