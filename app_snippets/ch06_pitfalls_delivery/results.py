"""What a finished task leaves in Redis: its result, stored (each library's default),
stored with a short expiry, or not stored at all, on each queue.

Defaults: Celery keeps a result for a day (`result_expires`) once a result backend is
set; RQ keeps the finished job and its result for 500 s (`result_ttl`); Dramatiq stores
nothing without its Results middleware, which then keeps a result 10 minutes.
"""

from __future__ import annotations

from collections.abc import Iterator

import dramatiq
from celery import Celery
from dramatiq.brokers.redis import RedisBroker
from dramatiq.results import Results
from dramatiq.results.backends.redis import RedisBackend
from redis import Redis
from rq import Queue
from rq.serializers import JSONSerializer

QUEUE = "ch06-results"
POLICIES = ("stored", "expiring", "not stored")
EXPIRES = 1  # seconds, for the demo; in production minutes to a day, what readers need
NAMESPACE = "ch06-results"  # Dramatiq's result keys start with this
RESULT_KEYS = {  # what each library keeps per finished task
    "celery": ("celery-task-meta-*",),
    "rq": ("rq:job:*", "rq:results:*"),
    "dramatiq": (f"{NAMESPACE}:*",),
}


def thumbnail(photo_id: int) -> str:
    """The task: returns a short string, the kind of result a caller reads once."""
    return f"thumbnails/{photo_id}.webp"


class ResultSenders:
    """One library's client for the Redis at `url`, sending `thumbnail` with a result policy."""

    def __init__(self, library: str, policy: str, url: str) -> None:
        if policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}, not {policy!r}")
        self.library, self.policy = library, policy
        self.celery_app = Celery("ch06_results", broker=url, backend=url)
        self.celery_app.conf.update(
            task_default_queue=QUEUE,
            task_ignore_result=policy == "not stored",
            result_expires=EXPIRES if policy == "expiring" else 86_400,  # Celery's default: 1 day
        )
        self.celery_task = self.celery_app.task(name="ch06.thumbnail")(thumbnail)
        self.rq = Queue(QUEUE, connection=Redis.from_url(url), serializer=JSONSerializer)
        self.broker = RedisBroker(url=url)
        options = {}
        if policy != "not stored":  # without the middleware Dramatiq stores nothing
            ttl_ms = EXPIRES * 1000 if policy == "expiring" else 600_000  # its default: 10 min
            backend = RedisBackend(url=url, namespace=NAMESPACE, use_namespace_prefix_keys=True)
            self.broker.add_middleware(Results(backend=backend, result_ttl=ttl_ms))
            options["store_results"] = True
        self.actor = dramatiq.actor(thumbnail, broker=self.broker, queue_name=QUEUE, **options)

    def send(self, photo_id: int) -> None:
        if self.library == "celery":
            self.celery_task.delay(photo_id)
        elif self.library == "rq":
            ttl = {"stored": None, "expiring": EXPIRES, "not stored": 0}[self.policy]
            self.rq.enqueue(thumbnail, photo_id, result_ttl=ttl)  # None: RQ's default, 500 s
        else:
            self.actor.send(photo_id)

    def close(self) -> None:
        self.celery_app.close()
        self.broker.close()


def waiting(client: Redis, library: str) -> int:
    """Tasks of `library` still queued (not yet taken by a worker)."""
    keys = {"celery": QUEUE, "rq": f"rq:queue:{QUEUE}", "dramatiq": f"dramatiq:{QUEUE}"}
    return client.llen(keys[library])


def result_keys(client: Redis, library: str) -> Iterator[str]:
    for pattern in RESULT_KEYS[library]:
        yield from client.scan_iter(pattern, count=1000)


def footprint(client: Redis, library: str) -> tuple[int, int]:
    """(keys, bytes) that `library`'s finished tasks hold in Redis (MEMORY USAGE per key)."""
    keys = list(result_keys(client, library))
    pipe = client.pipeline()
    for key in keys:
        pipe.memory_usage(key)
    return len(keys), sum(size or 0 for size in pipe.execute())
