"""The smallest Dramatiq setup: a Redis broker with the Results middleware, one actor."""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.results import Results
from dramatiq.results.backends.redis import RedisBackend

from app_snippets.settings import redis_url

broker = RedisBroker(url=redis_url())
broker.add_middleware(Results(backend=RedisBackend(url=redis_url())))
dramatiq.set_broker(broker)


@dramatiq.actor(store_results=True, max_retries=0)
def add(x: int, y: int) -> int:
    return x + y
