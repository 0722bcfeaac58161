"""Actors whose return values (or errors) the Results middleware stores in Redis."""

from __future__ import annotations

import time

import dramatiq

from app_snippets.ch04_dramatiq.dramatiq_broker import broker

QUEUE = "results"


@dramatiq.actor(broker=broker, queue_name=QUEUE, store_results=True, max_retries=0)
def slow_square(x: int, duration: float) -> int:
    time.sleep(duration)  # a slow computation
    return x * x


# The result of a failed message is its error: get_result() raises ResultFailure. With
# retries on, that happens only once the retries have run out.
@dramatiq.actor(broker=broker, queue_name=QUEUE, store_results=True, max_retries=0)
def parse_amount(text: str) -> float:
    return float(text)
