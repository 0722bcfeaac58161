"""Exercise 16: no secret in the task's arguments.

The API charges an order through the payment provider, on Celery, RQ and Dramatiq, and
hands each task the provider's API key as an argument. Arguments are stored in Redis,
written to logs and kept with finished jobs (chapter 05, section 5): anyone who can read
one of those has the key.

Make `charge` take the order id only and read the key where it runs, from the worker's
environment (variable PAYMENTS_KEY_VARIABLE), and make the three send_* functions stop
passing it. The receipt must still be signed with the real key.

Check your work: `wb.exercise("ex16").check()` in the notebook, or
`workbook check ex16` in JupyterLab's Terminal.
"""

from __future__ import annotations

import hashlib
import hmac
import os

import dramatiq
from celery import Celery
from dramatiq.brokers.redis import RedisBroker
from dramatiq.results import Results
from dramatiq.results.backends.redis import RedisBackend
from redis import Redis
from rq import Queue
from rq.job import Job

from app_snippets.settings import redis_url

QUEUE = "ex16-payments"
PAYMENTS_KEY_VARIABLE = "EX16_PAYMENTS_API_KEY"  # set for the API and for every worker


def sign(order_id: int, api_key: str) -> str:
    """What the payment provider answers: a receipt only the holder of the key can sign."""
    digest = hmac.new(api_key.encode(), str(order_id).encode(), hashlib.sha256).hexdigest()
    return f"order {order_id} charged, receipt {digest[:16]}"


def charge(order_id: int) -> str:
    """The task, the same on every queue."""
    # Changed: the key comes from the worker's own environment, where it runs; the message
    # carries only the order id, so Redis, the logs and the stored job never see the key.
    return sign(order_id, os.environ[PAYMENTS_KEY_VARIABLE])


celery_app = Celery("ex16", broker=redis_url(), backend=redis_url())
celery_app.conf.update(task_default_queue=QUEUE)
celery_charge = celery_app.task(name="ex16.charge")(charge)

rq_payments = Queue(QUEUE, connection=Redis.from_url(redis_url()))

broker = RedisBroker(url=redis_url(), namespace="ex16")
results_backend = RedisBackend(client=Redis.from_url(redis_url(), socket_timeout=65))
broker.add_middleware(Results(backend=results_backend))
dramatiq_charge = dramatiq.actor(
    charge, broker=broker, actor_name="ex16_charge", queue_name=QUEUE, store_results=True,
    max_retries=0,
)  # fmt: skip


def send_celery(order_id: int):
    return celery_charge.delay(order_id)  # Changed: the order id only


def send_rq(order_id: int) -> Job:
    return rq_payments.enqueue(charge, order_id)  # Changed: the order id only


def send_dramatiq(order_id: int) -> dramatiq.Message:
    return dramatiq_charge.send(order_id)  # Changed: the order id only
