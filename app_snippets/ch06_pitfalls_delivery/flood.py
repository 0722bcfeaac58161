"""Flooding Redis: one tiny task sent N times on each queue, against a Redis that the
caller chooses (a demo server with its own memory limit), one by one or in bulk.

Each queue library keeps a queued message in its own shape: Celery a JSON envelope in a
list, RQ a hash per job plus its id in a list, Dramatiq the message in a hash plus its id
in a list. So the bytes per queued task differ, and so does what a memory limit does.
"""

from __future__ import annotations

import celery
import dramatiq
from celery import Celery
from dramatiq.brokers.redis import RedisBroker
from redis import Redis
from rq import Queue
from rq.serializers import JSONSerializer

QUEUE = "ch06-flood"


def resize(photo_id: int) -> None:
    """The task: never run in this demo (no worker), only queued."""


class Senders:
    """The three libraries' clients, all pointed at the Redis at `url`.

    `timeout` (seconds) bounds how long a call waits for Redis to connect or answer; the
    default, None, is each client's own: redis-py waits for ever for a Redis that hangs.
    Celery's publish retry is off: by default kombu answers any Redis error, a full Redis's
    refusal too, by reconnecting and trying 3 more times (each one `timeout` long), which
    frees no memory, and in kombu 5.7 the reconnect sometimes turns the refusal into an
    AttributeError (tools/full_redis_publish.py).
    """

    def __init__(self, url: str, timeout: float | None = None) -> None:
        self.celery_app = Celery("ch06_flood", broker=url)
        self.celery_app.conf.update(
            task_default_queue=QUEUE, broker_connection_retry=False, task_publish_retry=False
        )
        if timeout is not None:
            self.celery_app.conf.broker_transport_options = {
                "socket_timeout": timeout,
                "socket_connect_timeout": timeout,
            }
        self.celery_task = self.celery_app.task(name="ch06.resize")(resize)
        client = Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self.rq = Queue(QUEUE, connection=client, serializer=JSONSerializer)
        self.broker = RedisBroker(client=Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout))  # fmt: skip
        self.actor = dramatiq.actor(resize, broker=self.broker, queue_name=QUEUE)

    def one_by_one(self, library: str, ids: range) -> None:
        """Send each task with its own call: .delay(), .enqueue(), .send()."""
        for i in ids:
            if library == "celery":
                self.celery_task.delay(i)
            elif library == "rq":
                self.rq.enqueue(resize, i)
            else:
                self.actor.send(i)

    def in_bulk(self, library: str, ids: range) -> None:
        """Send them with the library's bulk API."""
        if library == "celery":  # a group: one producer (one connection) for every task
            celery.group(self.celery_task.s(i) for i in ids).apply_async()
        elif library == "rq":  # enqueue_many: every job in one Redis pipeline
            self.rq.enqueue_many([Queue.prepare_data(resize, (i,)) for i in ids])
        else:  # a group: the messages sent one after another
            dramatiq.group([self.actor.message(i) for i in ids], broker=self.broker).run()

    def close(self) -> None:
        self.celery_app.close()
        self.broker.close()


def intact(client: Redis) -> dict[str, int]:
    """Queued tasks still whole in Redis, per library: a message whose list entry or body
    was evicted will never run, and nothing tells anyone."""
    rq_ids = client.lrange(f"rq:queue:{QUEUE}", 0, -1)
    dramatiq_ids = client.lrange(f"dramatiq:{QUEUE}", 0, -1)
    pipe = client.pipeline()
    for job_id in rq_ids:
        pipe.exists(f"rq:job:{job_id}")
    for message_id in dramatiq_ids:
        pipe.hexists(f"dramatiq:{QUEUE}.msgs", message_id)
    found = pipe.execute()
    return {
        "celery": client.llen(QUEUE),
        "rq": sum(found[: len(rq_ids)]),
        "dramatiq": sum(found[len(rq_ids) :]),
    }
