"""The smallest Dramatiq setup: a Redis broker with the Results middleware, one actor."""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.results import Results
from dramatiq.results.backends.redis import RedisBackend
from redis import Redis

from app_snippets.settings import redis_url

broker = RedisBroker(url=redis_url())
# get_result(block=True, timeout=ms) waits inside one Redis command, and redis-py gives up on
# a reply after 5 s (its default socket_timeout): let the results client wait longer than the
# longest timeout asked for (chapter 04, section 2).
results = RedisBackend(client=Redis.from_url(redis_url(), socket_timeout=65))
broker.add_middleware(Results(backend=results))
dramatiq.set_broker(broker)


@dramatiq.actor(store_results=True, max_retries=0)
def add(x: int, y: int) -> int:
    return x + y
