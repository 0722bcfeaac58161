"""The chapter's three queues on one Redis: a Celery app, RQ queues, a Dramatiq broker.

Each names its own queues (`ch05-...`) and Dramatiq its own key namespace, so a worker of
another chapter on the same Redis never takes this chapter's work.
"""

from __future__ import annotations

from celery import Celery
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import AsyncIO
from dramatiq.results import Results
from dramatiq.results.backends.redis import RedisBackend
from redis import Redis
from rq import Queue

from app_snippets.settings import redis_url

TASK_MODULES = [
    "app_snippets.ch05_pitfalls_code.probe",
    "app_snippets.ch05_pitfalls_code.orders",
    "app_snippets.ch05_pitfalls_code.payments",
    "app_snippets.ch05_pitfalls_code.async_work",
    "app_snippets.ch05_pitfalls_code.uploads",
]

# JSON only, both ways: the default, spelled out. `include` imports the task modules when a
# worker starts, so that `celery -A ...brokers:celery_app worker` knows every task.
celery_app = Celery("ch05", broker=redis_url(), backend=redis_url(), include=TASK_MODULES)
celery_app.conf.update(
    task_default_queue="ch05-celery",
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
)

# The queue of the one worker that decodes pickle (unsafe_dramatiq, never imported here).
DRAMATIQ_PICKLE_QUEUE = "ch05-dramatiq-pickle"
broker = RedisBroker(url=redis_url(), namespace="ch05-dramatiq")
# A client that waits longer than redis-py's 5 s default for a blocking get_result().
results_backend = RedisBackend(client=Redis.from_url(redis_url(), socket_timeout=65))
broker.add_middleware(Results(backend=results_backend))
# Runs `async def` actors on one event loop, in a thread started with the worker.
broker.add_middleware(AsyncIO())


def rq_queue(name: str, serializer: str | None = None) -> Queue:
    """An RQ queue on REDIS_URL; serializer "json" or None (RQ's default, pickle)."""
    return Queue(name, connection=Redis.from_url(redis_url()), serializer=serializer)
