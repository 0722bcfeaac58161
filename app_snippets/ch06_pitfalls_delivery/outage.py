"""Redis goes away under load: a worker of each queue runs tasks while its Redis is killed
and started again, and every task writes what happened to a ledger file, outside Redis,
so that the counts survive the restart.

Each task records "started", sleeps, records "finished" and returns its number (a result
each library stores in Redis: Celery's result backend, RQ's job, Dramatiq's Results
middleware). The worker processes read REDIS_URL when they import this module, as
production workers do; the sending side builds its clients for any Redis with `Queues`.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import dramatiq
from celery import Celery
from dramatiq.brokers.redis import RedisBroker
from dramatiq.results import Results
from dramatiq.results.backends.redis import RedisBackend
from redis import Redis
from rq import Queue
from rq.serializers import JSONSerializer

from app_snippets.settings import redis_url

QUEUE = "ch06-outage"
LIBRARIES = ("celery", "rq", "dramatiq")
# Not scaled: the restart must land while tasks run, at any demo pace.
TASK_SECONDS = 0.5
RESULTS_NAMESPACE = "ch06-outage-results"  # Dramatiq's result keys start with this
QUEUE_KEYS = {"celery": QUEUE, "rq": f"rq:queue:{QUEUE}", "dramatiq": f"dramatiq:{QUEUE}"}


def ledger_path() -> Path:
    """Set by the deployment (OUTAGE_LEDGER), never by a task's arguments."""
    default = Path(tempfile.gettempdir()) / "workbook-ch06-outage.log"
    return Path(os.environ.get("OUTAGE_LEDGER", default))


def record(event: str, library: str, n: int) -> None:
    """One line per event; a short append is atomic, so processes can share the file."""
    with ledger_path().open("a", encoding="utf-8") as ledger:
        ledger.write(f"{time.time()} {event} {library} {n}\n")


def work(library: str, n: int) -> int:
    """The task: takes TASK_SECONDS, and says when it started and when it finished."""
    record("started", library, n)
    time.sleep(TASK_SECONDS)
    record("finished", library, n)
    return n


def read_ledger() -> list[tuple[float, str, str, int]]:
    """Every event so far: (time, "started" or "finished", library, task number)."""
    if not ledger_path().exists():
        return []
    lines = ledger_path().read_text(encoding="utf-8").splitlines()
    return [(float(t), event, lib, int(n)) for t, event, lib, n in (line.split() for line in lines)]


class Queues:
    """The three libraries' apps for the Redis at `url`, each storing its results there."""

    def __init__(self, url: str) -> None:
        self.celery_app = Celery("ch06_outage", broker=url, backend=url)
        self.celery_app.conf.update(task_default_queue=QUEUE)
        self.celery_work = self.celery_app.task(name="ch06.outage.work")(work)
        self.rq = Queue(QUEUE, connection=Redis.from_url(url), serializer=JSONSerializer)
        self.broker = RedisBroker(url=url)
        backend = RedisBackend(url=url, namespace=RESULTS_NAMESPACE, use_namespace_prefix_keys=True)
        self.broker.add_middleware(Results(backend=backend, store_results=True))
        self.actor = dramatiq.actor(
            work, broker=self.broker, queue_name=QUEUE, actor_name="ch06_outage_work"
        )

    def send(self, library: str, n: int) -> None:
        """Enqueue task number `n` on `library`'s queue."""
        if library == "celery":
            self.celery_work.delay(library, n)
        elif library == "rq":
            self.rq.enqueue(work, library, n)
        else:
            self.actor.send(library, n)

    def close(self) -> None:
        self.celery_app.close()
        self.broker.close()


def queued(client: Redis) -> dict[str, int]:
    """Tasks waiting in each queue's list in Redis."""
    return {library: client.llen(key) for library, key in QUEUE_KEYS.items()}


def result_keys(client: Redis) -> dict[str, set[str]]:
    """The keys of the results stored in Redis, per library."""
    patterns = {"celery": "celery-task-meta-*", "rq": "rq:results:*",
                "dramatiq": f"{RESULTS_NAMESPACE}:*"}  # fmt: skip
    return {lib: set(client.scan_iter(pattern, count=1000)) for lib, pattern in patterns.items()}


def results(client: Redis) -> dict[str, int]:
    """Results stored in Redis, per library."""
    return {library: len(keys) for library, keys in result_keys(client).items()}


# The worker processes' apps (`celery -A ...outage:celery_app`, `dramatiq ...outage:broker`).
_here = Queues(redis_url())
celery_app, broker = _here.celery_app, _here.broker
