"""Retries on three queues: each library's default for a task that always fails, and a
dependency that goes down for everyone, retried with a fixed delay or with exponential
backoff and full jitter, bounded, ending in a dead-letter place that can be replayed.

Every attempt is recorded (its time) in Redis, outside the workers, so the notebook can
count attempts and plot them per second.
"""

from __future__ import annotations

import functools
import json
import random
import time

import dramatiq
from celery import Celery
from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import CurrentMessage
from redis import Redis
from rq import Queue, Retry
from rq.serializers import JSONSerializer

from app_snippets.settings import redis_url

QUEUE = "ch06-retries"
STORM_RETRIES = 5  # attempts: 1 + 5 retries, then the dead-letter place
# Not scaled: how a storm looks depends on these waits against the workers' speed.
FIXED_DELAY = 0.5  # seconds: the same wait before every retry
BASE_DELAY = 0.25  # backoff: the first wait before jitter, doubled each retry
MAX_DELAY = 4.0  # backoff: never wait longer than this


def store() -> Redis:
    """This process's client for REDIS_URL, made once and kept: its pool keeps connections
    open. A client per attempt paid a TCP connect and a login every time (a storm makes over
    a thousand attempts)."""
    return _client(redis_url())


@functools.lru_cache(maxsize=4)
def _client(url: str) -> Redis:
    return Redis.from_url(url, decode_responses=True)


def call_dependency(run: str, key: str) -> str:
    """The dependency every task calls: an attempt is recorded; it fails while it is down."""
    client = store()
    pipe = client.pipeline(transaction=False)  # one round trip for both commands
    pipe.rpush(f"ch06:attempts:{run}", f"{time.time()} {key}")
    pipe.exists(f"ch06:down:{run}")
    if pipe.execute()[1]:
        raise ConnectionError("dependency unreachable")
    client.sadd(f"ch06:succeeded:{run}", key)
    return "ok"


def fixed_delay(retries: int) -> float:
    """Seconds before the next attempt: the same every time (so every task comes back at
    once, in waves)."""
    return FIXED_DELAY


def backoff_with_jitter(retries: int) -> float:
    """Exponential backoff with full jitter: a random wait below BASE_DELAY * 2**retries,
    capped at MAX_DELAY, so that tasks that failed together spread out."""
    return random.uniform(0, min(MAX_DELAY, BASE_DELAY * 2**retries))


POLICIES = {"fixed": fixed_delay, "backoff+jitter": backoff_with_jitter}


# Celery ---------------------------------------------------------------------------------
celery_app = Celery("ch06_retries", broker=redis_url())
celery_app.conf.update(task_default_queue=QUEUE, task_ignore_result=True)
CELERY_DEAD_LETTERS = "ch06:dead-letters:celery"  # Celery has no dead-letter place: ours


@celery_app.task(name="ch06.fail_plain")
def celery_fail_plain(run: str, key: str) -> str:
    """Celery's default: no retry at all unless the task asks for one."""
    return call_dependency(run, key)


@celery_app.task(
    name="ch06.fail_autoretry",
    autoretry_for=(ConnectionError,),
    default_retry_delay=180 / 1000,  # Celery's default 180 s, on a clock 1000 x faster
)
def celery_fail_autoretry(run: str, key: str) -> str:
    """autoretry_for with Celery's other defaults: max_retries=3."""
    return call_dependency(run, key)


@celery_app.task(name="ch06.storm", bind=True, max_retries=STORM_RETRIES)
def celery_storm(self, run: str, key: str, policy: str) -> str:
    try:
        return call_dependency(run, key)
    except ConnectionError as exc:
        if self.request.retries >= STORM_RETRIES:  # out of retries: dead-letter it
            letter = {"task": self.name, "args": [run, key, policy], "error": repr(exc)}
            store().rpush(CELERY_DEAD_LETTERS, json.dumps(letter))
            raise
        raise self.retry(exc=exc, countdown=POLICIES[policy](self.request.retries)) from exc


def celery_replay() -> int:
    """Send the dead letters again, taking each off the list as it is sent."""
    sent = 0
    while (raw := store().lpop(CELERY_DEAD_LETTERS)) is not None:
        celery_app.send_task(json.loads(raw)["task"], args=json.loads(raw)["args"])
        sent += 1
    return sent


# RQ -------------------------------------------------------------------------------------
def rq_queue() -> Queue:
    return Queue(QUEUE, connection=Redis.from_url(redis_url()), serializer=JSONSerializer)


def rq_fail(run: str, key: str) -> str:
    """Enqueued without Retry: RQ runs it once, then files it in the FailedJobRegistry."""
    return call_dependency(run, key)


def rq_storm(run: str, key: str) -> str:
    """The storm task on RQ: the policy is not in the task but in its Retry (below)."""
    return call_dependency(run, key)


def rq_retry(policy: str) -> Retry:
    """RQ's Retry takes its waits up front: one per retry, listed. A fixed delay lists the
    same wait; jitter needs a list drawn per job. RQ's scheduler (needed for any wait)
    releases due jobs once a second, so shorter waits are rounded up to its next tick."""
    return Retry(max=STORM_RETRIES, interval=[POLICIES[policy](n) for n in range(STORM_RETRIES)])


def rq_replay() -> int:
    """RQ's dead-letter place is the FailedJobRegistry: requeue everything in it."""
    registry = rq_queue().failed_job_registry
    job_ids = registry.get_job_ids()
    for job_id in job_ids:
        registry.requeue(job_id)
    return len(job_ids)


# Dramatiq -------------------------------------------------------------------------------
broker = RedisBroker(url=redis_url())
broker.add_middleware(CurrentMessage())  # lets an actor read its own retry count


@dramatiq.actor(
    broker=broker, queue_name=QUEUE, actor_name="ch06_fail_defaults",
    min_backoff=1, max_backoff=20,  # ms: the default 20 retries, on a much faster clock
)  # fmt: skip
def dramatiq_fail(run: str, key: str) -> None:
    call_dependency(run, key)


@dramatiq.actor(broker=broker, queue_name=QUEUE, actor_name="ch06_storm", max_retries=STORM_RETRIES)
def dramatiq_storm(run: str, key: str, policy: str) -> None:
    try:
        call_dependency(run, key)
    except ConnectionError:
        # dramatiq.Retry(delay=ms) sets the wait (without it, Dramatiq's own backoff applies:
        # exponential from min_backoff, jittered between 1x and 2x).
        retries = CurrentMessage.get_current_message().options.get("retries", 0)
        delay = POLICIES[policy](retries)
        raise dramatiq.Retry("dependency down", delay=max(1, int(delay * 1000))) from None


def dramatiq_dead_letters() -> dict[str, Message]:
    """The queue's dead-letter set (kept 7 days by default), by the broker's Redis id."""
    raw = store().hgetall(f"dramatiq:{QUEUE}.XQ.msgs")
    return {redis_id: Message.decode(item.encode()) for redis_id, item in raw.items()}


def dramatiq_replay() -> int:
    """Send each dead message again with its retry count reset, and remove it from the set.
    (The broker keys messages by a Redis id of its own, not by message_id.)"""
    letters = dramatiq_dead_letters()
    client = store()
    for redis_id, message in letters.items():
        options = {**message.options, "retries": 0}
        options.pop("redis_message_id", None)  # a fresh one for the new copy
        broker.enqueue(message.copy(options=options))
        client.zrem(f"dramatiq:{QUEUE}.XQ", redis_id)
        client.hdel(f"dramatiq:{QUEUE}.XQ.msgs", redis_id)
    return len(letters)
