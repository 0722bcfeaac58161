"""Exercise 05: bounded retries with exponential backoff.

`sync_stock` asks the warehouse's API for a product's stock level. The API fails now and
then (a flaky SKU fails twice, then answers) or for good (a SKU starting with "down" never
answers). Today the task gives up at the first ConnectionError, even when the next attempt
would have worked. Make it retry, politely and not forever (notebook 02, section 4).

Check your work: `wb.exercise("ex05").check()` in the notebook, or
`python -m workbook check ex05` in a terminal.
"""

from __future__ import annotations

import time

from celery import Celery
from redis import Redis

from app_snippets.settings import redis_url

celery_app = Celery("ex05", broker=redis_url(), backend=redis_url())
celery_app.conf.update(task_default_queue="ex05")


def warehouse_api(sku: str) -> int:
    """The warehouse's API. Records each call; "flaky..." SKUs fail twice, "down..." always."""
    with Redis.from_url(redis_url()) as store:
        attempt = store.rpush(f"ex05:attempts:{sku}", time.time())
    if sku.startswith("down") or (sku.startswith("flaky") and attempt <= 2):
        raise ConnectionError(f"warehouse API unreachable (call {attempt} for {sku})")
    return 42


# Changed: the retry settings, all on the decorator.
@celery_app.task(bind=True, max_retries=3)
def sync_stock(self, sku: str) -> int:
    try:
        return warehouse_api(sku)
    except ConnectionError:
        # Wrong: no exc=..., so the last retry fails with MaxRetriesExceededError and the
        # API's error is lost.
        raise self.retry(countdown=2**self.request.retries) from None
