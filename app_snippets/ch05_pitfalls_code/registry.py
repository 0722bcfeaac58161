"""Two Celery apps for the same tasks: one that never imports them, one that does.

`celery -A ...registry:bare_app worker` starts fine and lists no task of ours: it never
imported reports.py. `include=` makes the worker import it at start (autodiscover_tasks()
does the same for a package's tasks.py modules).
"""

from __future__ import annotations

from celery import Celery

from app_snippets.settings import redis_url

REGISTRY_QUEUE = "ch05-registry"

bare_app = Celery("ch05-bare", broker=redis_url(), backend=redis_url())
bare_app.conf.task_default_queue = REGISTRY_QUEUE

fixed_app = Celery(
    "ch05-fixed",
    broker=redis_url(),
    backend=redis_url(),
    include=["app_snippets.ch05_pitfalls_code.reports"],  # the fix
)
fixed_app.conf.task_default_queue = REGISTRY_QUEUE
