"""Before the workbook stops its Redis: close the pub/sub connection on which this thread's
Celery apps wait for results, so the next `.get()` subscribes afresh.

Left open, that connection is dead once Redis is gone. The next `.get()` (notebook 00's
second Run All, after `wb.stop_all()` and `wb.start_redis()`) sends its SUBSCRIBE into it,
and Celery 5.7's reconnect reads the awaited results *before* it subscribes again: a result
stored in between is never seen, and `.get()` waits out its whole timeout. Measured: every
first `.get()` after a restart went through that reconnect, and beside two CPU-burning
processes 5 of 145 rounds missed a result (tools/celery_get_after_restart.py).
"""

from __future__ import annotations

import contextlib
import sys


def close_result_listeners() -> int:
    """Close the result consumers of this thread's Celery backends; return how many had a
    connection. Nothing to do (0) when Celery was never imported."""
    state = sys.modules.get("celery._state")
    if state is None:
        return 0
    closed = 0
    for app in list(getattr(state, "_get_active_apps", list)()):
        # this thread's backend, if it made one (.backend would make one); private, as are
        # the consumer's fields below: what Celery < 6 has, each looked up with a default
        backend = getattr(app, "_backend", None)
        consumer = getattr(backend, "result_consumer", None)
        if getattr(consumer, "_pubsub", None) is None or not hasattr(consumer, "subscribed_to"):
            continue
        consumer.stop()  # closes the connection
        with getattr(consumer, "_locked", contextlib.nullcontext)():
            consumer._pubsub = None  # the next .get() starts a fresh one, subscribed first
            consumer.subscribed_to.clear()
        closed += 1
    return closed
