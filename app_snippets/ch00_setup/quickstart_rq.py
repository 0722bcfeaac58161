"""The smallest RQ setup: a job function in an importable module, JSON instead of pickle."""

from __future__ import annotations

from redis import Redis
from rq import Queue
from rq.serializers import JSONSerializer

from app_snippets.settings import redis_url


def add(x: int, y: int) -> int:
    return x + y


def queue(name: str = "default") -> Queue:
    """A queue that stores jobs as JSON: a worker must use `-S rq.serializers.JSONSerializer`."""
    return Queue(name, connection=Redis.from_url(redis_url()), serializer=JSONSerializer)
