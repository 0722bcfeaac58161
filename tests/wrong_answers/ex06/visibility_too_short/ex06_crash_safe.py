"""Exercise 06: survive a killed worker.

`make_thumbnail` takes half a second and records each start and each completion in Redis.
With Celery's defaults, a worker killed mid-task (out of memory, a lost machine, `kill -9`)
loses the task it was running, and its prefetched messages wait an hour before Redis hands
them out again (notebook 02, section 5). The check kills a real `celery worker` process in
the middle of a batch, in two ways, and counts the tasks that completed:
- only the pool process running a task dies (the worker's main process survives);
- the whole worker dies, and a new one starts.
It also runs a batch with no kill, in which no task may run again and again.

Check your work: `wb.exercise("ex06").check()` in the notebook, or
`workbook check ex06` in JupyterLab's Terminal.
"""

from __future__ import annotations

import time

from celery import Celery
from redis import Redis

from app_snippets.settings import redis_url, seconds

VISIBILITY_TIMEOUT = 2  # seconds: more than 4 prefetched tasks of 0.5 s; production: hours

celery_app = Celery("ex06", broker=redis_url(), backend=redis_url())
celery_app.conf.update(
    task_default_queue="ex06",
    worker_prefetch_multiplier=4,  # the default, spelled out
    broker_transport_options={
        # Look for unacknowledged messages every second (the default is about every 100 s).
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
        # Changed: a message taken but not acknowledged goes back to the queue after this
        # many seconds (default 3600): how a dead worker's messages come back.
        "visibility_timeout": 0.2,  # Wrong: shorter than a message waits in the worker
    },
    # Changed: acknowledge when the task ends, so a task cut off mid-run is not lost.
    task_acks_late=True,
    # Changed: when the pool process running a task dies, send its message back to the
    # queue at once (by default the task fails with WorkerLostError and is acknowledged).
    task_reject_on_worker_lost=True,
)
# Changed: the raise is gone. A task may now run twice (at least once): make_thumbnail
# writes the same thumbnail again, which is harmless.


@celery_app.task
def make_thumbnail(photo_id: int) -> int:
    with Redis.from_url(redis_url()) as store:
        store.rpush("ex06:started", photo_id)
        time.sleep(seconds(0.5))  # the work
        store.sadd("ex06:done", photo_id)
    return photo_id
