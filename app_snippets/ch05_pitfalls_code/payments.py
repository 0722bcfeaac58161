"""Charging an order through a payment provider, twice: with the API key as an argument
(the mistake), and with the worker reading the key from its own environment (the fix).

Task arguments are stored in Redis, written to logs, shown by dashboards: anything passed
as an argument is as public as the least protected of those.
"""

from __future__ import annotations

import os

import dramatiq

from app_snippets.ch05_pitfalls_code.brokers import broker, celery_app

PAYMENTS_QUEUE = "ch05-payments"
API_KEY_VARIABLE = "PAYMENTS_API_KEY"  # set in the worker's environment, never sent


def charge(order_id: int, api_key: str) -> str:
    """The mistake: the caller hands the key over with the order."""
    return f"order {order_id} charged (key ...{api_key[-4:]})"


def charge_safely(order_id: int) -> str:
    """The fix: the task gets an order id, and reads the key where the worker runs."""
    api_key = os.environ[API_KEY_VARIABLE]
    return f"order {order_id} charged (key ...{api_key[-4:]})"


celery_charge = celery_app.task(name="ch05.charge")(charge)
celery_charge_safely = celery_app.task(name="ch05.charge_safely")(charge_safely)
ACTOR_OPTIONS = {"queue_name": PAYMENTS_QUEUE, "store_results": True, "max_retries": 0}
dramatiq_charge = dramatiq.actor(charge, broker=broker, actor_name="ch05_charge", **ACTOR_OPTIONS)
dramatiq_charge_safely = dramatiq.actor(
    charge_safely, broker=broker, actor_name="ch05_charge_safely", **ACTOR_OPTIONS
)
