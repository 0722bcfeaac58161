"""Exercise 19: bounded retries with backoff and jitter, ending in a dead-letter list.

`sync_stock` asks the warehouse for a product's stock. When the warehouse is down, every
task fails at once; retried after a fixed delay, they all come back at the same moment,
in waves that keep it down (notebook 06, section 1). And a task retried for ever never
tells anyone that it gave up.

Three places to write:
1. backoff_delay(): the wait before the next retry, exponential (BASE_DELAY, doubled each
   retry), never more than MAX_DELAY, with full jitter (a random fraction of it).
2. sync_stock: after MAX_RETRIES retries, stop retrying: put the task's arguments and its
   error on the DEAD_LETTERS list in Redis (as JSON: {"args": [...], "error": "..."}) and
   let it fail.
3. replay_dead_letters(): once the warehouse is back, send every dead letter again, and
   empty the list (a second replay sends nothing).

Check your work: `wb.exercise("ex19").check()` in the notebook, or
`workbook check ex19` in JupyterLab's Terminal.
"""

from __future__ import annotations

import json
import random
import time

from celery import Celery
from redis import Redis

from app_snippets.settings import redis_url, seconds

MAX_RETRIES = 4  # 5 attempts in all
BASE_DELAY = seconds(0.2)  # seconds before the first retry (before jitter)
MAX_DELAY = seconds(2)  # no wait is longer than this
DEAD_LETTERS = "ex19:dead-letters"

celery_app = Celery("ex19", broker=redis_url())
celery_app.conf.update(task_default_queue="ex19", task_ignore_result=True)


def store() -> Redis:
    return Redis.from_url(redis_url(), decode_responses=True)


def call_warehouse(sku: str) -> int:
    """The warehouse API: down while the key ex19:down exists. Do not change it."""
    with store() as client:
        client.rpush(f"ex19:attempts:{sku}", time.time())
        if client.exists("ex19:down"):
            raise ConnectionError("warehouse unreachable")
        client.sadd("ex19:synced", sku)
    return 42


def backoff_delay(retries: int) -> float:
    """Seconds to wait before the next attempt, after `retries` retries so far (0, 1, ...)."""
    # Changed: exponential (BASE_DELAY doubled each retry), capped at MAX_DELAY, and full
    # jitter: a random point below it, so that tasks that failed together spread out.
    return random.uniform(0, min(MAX_DELAY, BASE_DELAY * 2**retries))


@celery_app.task(bind=True, name="ex19.sync_stock", max_retries=MAX_RETRIES)
def sync_stock(self, sku: str) -> int:
    try:
        return call_warehouse(sku)
    except ConnectionError as exc:
        if self.request.retries >= MAX_RETRIES:  # Changed: out of retries...
            letter = {"args": [sku], "error": repr(exc)}
            with store() as client:
                client.rpush(DEAD_LETTERS, json.dumps(letter))  # Changed: ...dead-letter it
            raise
        raise self.retry(exc=exc, countdown=backoff_delay(self.request.retries)) from exc


def replay_dead_letters() -> int:
    """Send every dead letter again; return how many were sent."""
    sent = 0
    with store() as client:
        # Changed: LPOP takes each letter off the list as it is sent, so that a second replay
        # (or a second replayer) cannot send it again.
        for raw in client.lrange(DEAD_LETTERS, 0, -1):  # read, but left on the list
            sync_stock.delay(*json.loads(raw)["args"])
            sent += 1
    return sent
