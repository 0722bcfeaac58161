"""A Dramatiq worker module that decodes messages with pickle: NOT to copy.

`dramatiq.set_encoder` is process-wide, so this module is only ever loaded by its own
worker process (`dramatiq app_snippets.ch05_pitfalls_code.unsafe_dramatiq`).
"""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.encoder import PickleEncoder

from app_snippets.ch05_pitfalls_code.brokers import DRAMATIQ_PICKLE_QUEUE
from app_snippets.settings import redis_url

dramatiq.set_encoder(PickleEncoder())  # the dangerous line
broker = RedisBroker(url=redis_url(), namespace="ch05-dramatiq")
dramatiq.set_broker(broker)


@dramatiq.actor(broker=broker, actor_name="ch05_pickled", queue_name=DRAMATIQ_PICKLE_QUEUE)
def pickled(value: object) -> None:
    """Takes anything pickle can carry (and runs whatever a crafted pickle says)."""
