"""The smallest Celery app: one task, Redis as broker and result store, JSON only."""

from __future__ import annotations

from celery import Celery

from app_snippets.settings import celery_redis_options, redis_url

celery_app = Celery("quickstart", broker=redis_url(), backend=redis_url())
celery_app.conf.update(task_serializer="json", result_serializer="json", accept_content=["json"])
celery_app.conf.update(celery_redis_options())  # a dead Redis fails a call in about a second


@celery_app.task
def add(x: int, y: int) -> int:
    return x + y
