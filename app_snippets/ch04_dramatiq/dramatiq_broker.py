"""Chapter 04's one broker: Redis, with the Results middleware, plus a rate-limiter backend.

Every actor module of the chapter imports `broker` from here and names it in its decorator
(`@dramatiq.actor(broker=broker, ...)`). Dramatiq also keeps a global broker
(`dramatiq.set_broker`), and an actor declared without `broker=` binds to whichever broker
is global when its module is imported: another module that calls `set_broker` in between
would quietly take the actors that follow. Naming the broker makes the import order moot.
"""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.rate_limits.backends import RedisBackend as RateLimiterBackend
from dramatiq.results import Results
from dramatiq.results.backends.redis import RedisBackend as ResultsBackend
from redis import Redis

from app_snippets.settings import redis_url

broker = RedisBroker(url=redis_url())

# Results must be added before any actor is declared: it adds the `store_results` and
# `result_ttl` options, and an actor that names an option no middleware knows is an error.
# get_result(block=True, timeout=ms) waits inside one Redis command, and redis-py 8 gives up
# on any reply after 5 s (its default socket_timeout): the client must wait longer than the
# longest timeout this app asks for.
results_backend = ResultsBackend(client=Redis.from_url(redis_url(), socket_timeout=65))
broker.add_middleware(Results(backend=results_backend))

# Rate limiters keep their counters in Redis, so the limit holds across all workers.
rate_limiter_backend = RateLimiterBackend(url=redis_url())

# For code that asks for the global broker: pipeline(), group(), message.get_result().
dramatiq.set_broker(broker)
