"""Rate limiters: counters in Redis that every worker shares.

An actor that finds the limit reached raises RateLimitExceeded; the Retries middleware
then tries it again after a backoff, so the limiter delays work instead of dropping it.
(Each denied attempt counts as a retry: give these actors room with max_retries.)
"""

from __future__ import annotations

import json
import time

import dramatiq
from dramatiq.rate_limits import ConcurrentRateLimiter, WindowRateLimiter
from redis import Redis

from app_snippets.ch04_dramatiq.dramatiq_broker import broker, rate_limiter_backend
from app_snippets.settings import redis_url, seconds

QUEUE = "rate-limits"
# A denied attempt tries again after 100 ms to 1 s (ms, scaled for the demos); the defaults
# (15 s to 7 days) would leave a denied message waiting long after a slot is free.
RETRY = {
    "max_retries": 100,
    "min_backoff": max(1, int(seconds(0.1) * 1000)),
    "max_backoff": int(seconds(1) * 1000),
}

# At most 2 calls to the partner API at once, across all workers.
PARTNER_SLOTS = ConcurrentRateLimiter(rate_limiter_backend, "partner-api", limit=2)
# At most 3 text messages in any one-second window (windows are whole seconds).
SMS_PER_SECOND = WindowRateLimiter(rate_limiter_backend, "sms", limit=3, window=1)


def record(run_id: str, **times: float) -> None:
    with Redis.from_url(redis_url()) as client:
        client.rpush(f"rate-limits:{run_id}", json.dumps(times))


def records(run_id: str) -> list[dict[str, float]]:
    with Redis.from_url(redis_url()) as client:
        return [json.loads(item) for item in client.lrange(f"rate-limits:{run_id}", 0, -1)]


@dramatiq.actor(broker=broker, queue_name=QUEUE, **RETRY)
def call_partner_api(run_id: str, duration: float) -> None:
    with PARTNER_SLOTS.acquire():  # raises RateLimitExceeded when 2 calls already run
        started = time.time()
        time.sleep(duration)  # the call
        record(run_id, started=started, ended=time.time())


@dramatiq.actor(broker=broker, queue_name=QUEUE, **RETRY)
def send_sms(run_id: str) -> None:
    asked = time.time()  # the limiter reads the clock between `asked` and `sent`
    with SMS_PER_SECOND.acquire():  # raises RateLimitExceeded after 3 in this second
        record(run_id, asked=asked, sent=time.time())
