"""Kill-the-worker lab: the same task under two acknowledgement settings.

`process_item` takes `seconds(0.5)` and records each start and each completion in Redis,
outside the worker, so that after a SIGKILL we can count what ran and what was lost. Each
app has a Redis database of its own: the broker's record of unacknowledged messages (the
`unacked` hash) is per database, and one app's stuck messages must not leak into another's.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit, urlunsplit

from celery import Celery
from redis import Redis

from app_snippets.settings import redis_url, seconds


def on_database(url: str, db: int) -> str:
    """The same Redis, another database: redis://host:port/0 -> redis://host:port/<db>."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{db}"))


def make_app(name: str, db: int, *, crash_safe: bool, visibility_timeout: float) -> Celery:
    url = on_database(redis_url(), db)
    celery_app = Celery(name, broker=url, backend=url)
    celery_app.conf.update(
        task_default_queue=name,
        worker_prefetch_multiplier=4,  # the default: each worker process holds 4 more messages
        broker_transport_options={
            # How long a message taken but not acknowledged stays invisible before Redis
            # hands it out again. The default is 3600 s (1 hour).
            "visibility_timeout": visibility_timeout,
            # How often a worker looks for such messages: every 1 s instead of about 100 s.
            "unacked_restore_interval": 1,
            "unacked_restore_throttle": 1,
            # A worker killed in the middle of that sweep holds its lock until it expires:
            # 300 s by default, and nothing is restored meanwhile. 1 s here.
            "unacked_mutex_expire": 1,
        },
    )
    if crash_safe:
        celery_app.conf.update(
            task_acks_late=True,  # acknowledge when the task ends, not when it starts
            task_reject_on_worker_lost=True,  # a killed pool process sends it back, too
        )

    @celery_app.task(name="process_item", shared=False)  # this app only
    def process_item(item: int) -> int:
        with Redis.from_url(url) as store:
            store.rpush("started", item)
            time.sleep(seconds(0.5))  # the work
            store.sadd("done", item)
        return item

    return celery_app


HOUR = 3600.0  # kombu's default visibility timeout
SHORT = max(1.0, seconds(3))  # for the demo; it must exceed prefetch x task time (4 x 0.5 s)
default_app = make_app("crash_default", 1, crash_safe=False, visibility_timeout=HOUR)
safe_app = make_app("crash_safe", 2, crash_safe=True, visibility_timeout=HOUR)
default_short_app = make_app("crash_default_short", 3, crash_safe=False, visibility_timeout=SHORT)
safe_short_app = make_app("crash_safe_short", 4, crash_safe=True, visibility_timeout=SHORT)
