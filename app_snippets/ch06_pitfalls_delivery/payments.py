"""Charge the card: a task that must take effect once, on three queues set up to survive a
killed worker (chapters 02-04). Surviving a crash means running the task again: at least
once, never exactly once. So the card is charged twice, unless the task is idempotent.

`charge` is the naive task; `charge_once` claims an idempotency key derived from the order
(Redis SET NX with an expiry) before it charges, and gives the claim back if the charge
fails, so that a retry can charge. Every charge lands in a ledger in Redis, outside the
workers, so that after a SIGKILL we can count who was charged how often.
"""

from __future__ import annotations

import time

import dramatiq
from celery import Celery
from dramatiq.brokers.redis import RedisBroker
from redis import Redis

from app_snippets.settings import redis_url, seconds

QUEUE = "ch06-payments"
IDEMPOTENCY_TTL = 7 * 24 * 3600  # seconds: longer than any redelivery or client retry
# Emailing the receipt, after the charge: where a kill falls. Never under 0.3 s, so that a
# batch keeps the workers busy long enough to be killed with charges in flight.
RECEIPT_SECONDS = max(seconds(0.5), 0.3)


def store() -> Redis:
    return Redis.from_url(redis_url(), decode_responses=True)


def ledger(queue: str) -> str:
    """The card processor's record of charges made through `queue`, one entry per charge."""
    return f"ch06:charges:{queue}"


def card_processor_charge(queue: str, order_id: str, cents: int) -> None:
    """The card processor: every call charges the customer (a real one would take money)."""
    with store() as client:
        client.rpush(ledger(queue), order_id)


def send_receipt(queue: str, order_id: str) -> None:
    """Email the receipt. A second email is harmless, so this step may run twice."""
    time.sleep(RECEIPT_SECONDS)
    with store() as client:
        client.sadd(f"ch06:receipts:{queue}", order_id)


def charge(queue: str, order_id: str, cents: int) -> str:
    """The naive task: charge, then email the receipt."""
    card_processor_charge(queue, order_id, cents)
    send_receipt(queue, order_id)
    return "charged"


def charge_once(queue: str, order_id: str, cents: int) -> str:
    """The idempotent task: the first run for an order claims its key and charges; a later
    run (a redelivery, a client that sent the order twice) finds the claim, skips the charge,
    and only finishes what may repeat (the receipt)."""
    key = f"ch06:idempotency:{queue}:charge:{order_id}"  # from the order, not the message
    with store() as client:
        if client.set(key, "claimed", nx=True, ex=IDEMPOTENCY_TTL):
            try:
                card_processor_charge(queue, order_id, cents)
            except Exception:
                client.delete(key)  # not charged: give the claim back so a retry can charge
                raise
    send_receipt(queue, order_id)
    return "charged"


def receipts(queue: str) -> int:
    """How many orders have their receipt: every order's task has finished at least once."""
    with store() as client:
        return client.scard(f"ch06:receipts:{queue}")


def tally(queue: str, orders: list[str]) -> dict[str, int]:
    """Reconcile the ledger with the orders: enqueued, charged once, twice (or more), never."""
    with store() as client:
        charges = client.lrange(ledger(queue), 0, -1)
    counts = [charges.count(order) for order in orders]
    return {
        "enqueued": len(orders),
        "charged once": counts.count(1),
        "charged twice or more": sum(1 for n in counts if n > 1),
        "never charged": counts.count(0),
    }


# Celery: acknowledge when the task ends, requeue when the worker dies, and let Redis hand
# out unacknowledged messages again after 3 s (the default is an hour; chapter 02).
# Its own Redis database: the broker's record of unacknowledged messages is per database,
# and this app's 3 s visibility timeout must not hand out another app's messages.
celery_app = Celery("ch06_payments", broker=redis_url().rsplit("/", 1)[0] + "/1")
celery_app.conf.update(
    task_default_queue=QUEUE,
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    task_ignore_result=True,
    worker_prefetch_multiplier=1,
    broker_transport_options={
        "visibility_timeout": 3,  # more than one task's run: or live tasks are redelivered
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
        "unacked_mutex_expire": 1,  # a worker killed mid-sweep holds its lock this long (300 s)
    },
)


@celery_app.task(name="ch06.charge")
def celery_charge(order_id: str, cents: int) -> str:
    return charge("celery", order_id, cents)


@celery_app.task(name="ch06.charge_once")
def celery_charge_once(order_id: str, cents: int) -> str:
    return charge_once("celery", order_id, cents)


# RQ: the job runs in a work horse; when worker and horse die, the job waits in the
# StartedJobRegistry until a cleanup gives it back (chapter 03). Retry makes it run again.
def rq_charge(order_id: str, cents: int) -> str:
    return charge("rq", order_id, cents)


def rq_charge_once(order_id: str, cents: int) -> str:
    return charge_once("rq", order_id, cents)


# Dramatiq: a dead worker's unacknowledged messages come back after its heartbeat timeout
# (2 s here instead of 60 s; chapter 04).
broker = RedisBroker(url=redis_url(), heartbeat_timeout=2_000, maintenance_chance=1_000_000)


@dramatiq.actor(broker=broker, queue_name=QUEUE, actor_name="ch06_charge", max_retries=3)
def dramatiq_charge(order_id: str, cents: int) -> str:
    return charge("dramatiq", order_id, cents)


@dramatiq.actor(broker=broker, queue_name=QUEUE, actor_name="ch06_charge_once", max_retries=3)
def dramatiq_charge_once(order_id: str, cents: int) -> str:
    return charge_once("dramatiq", order_id, cents)
