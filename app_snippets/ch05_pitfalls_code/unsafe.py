"""Settings NOT to copy: a Celery app that accepts pickle (RQ's default does too).

Pickle can carry almost any Python object, which is why it is tempting; loading a pickle
runs whatever code its author chose. Anyone who can write to your Redis can then run code
in every worker. Chapter 05 uses this app to show both sides.
"""

from __future__ import annotations

from celery import Celery

from app_snippets.ch05_pitfalls_code.orders import confirm_order
from app_snippets.ch05_pitfalls_code.probe import describe
from app_snippets.settings import redis_url

celery_pickle_app = Celery("ch05-pickle", broker=redis_url(), backend=redis_url())
celery_pickle_app.conf.update(
    task_default_queue="ch05-celery-pickle",
    task_serializer="pickle",
    result_serializer="json",
    accept_content=["json", "pickle"],  # the dangerous line
)
celery_pickle_app.task(name="ch05.describe")(describe)
celery_pickle_app.task(name="ch05.confirm_order")(confirm_order)
