"""When the workbook's Redis dies, the notebook says so, names the fix, and the fix works."""

from __future__ import annotations

import sys
import time

import pytest
from kernels import run, start_kernel

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SIGKILL, /proc")

START = """
import os, signal, time, workbook as wb
redis = wb.start_redis()
worker = wb.rq_worker(["default"], process=True)
"""
KILL_REDIS_THEN_WORKER = """
os.kill(redis.pid, signal.SIGKILL)
wb.wait_for(lambda: redis.process.popen.poll() is not None, 10, limit=30)
os.kill(worker.pid, signal.SIGKILL)
wb.wait_for(lambda: not worker.alive(), 10, limit=30)
"""
FAILING_CALL = """
import redis as redis_py
redis_py.Redis.from_url(os.environ["REDIS_URL"]).ping()
"""


@pytest.mark.slow
def test_a_dead_redis_is_named_with_its_fix_at_the_first_failing_call():
    manager, client = start_kernel()
    try:
        run(client, START)
        # The worker goes down after Redis, as a Celery process worker holding prefetched
        # tasks does ("Unrecoverable error: AttributeError(... 'hostname')"). Each death is
        # waited for, as events: on a busy machine a SIGKILLed process takes a moment to end,
        # and the message names the workers that have ended by the first failing call.
        run(client, KILL_REDIS_THEN_WORKER)
        seen: list[tuple[float, str]] = []
        started = time.monotonic()

        def collect(msg) -> None:
            content = msg["content"]
            text = content.get("text") or "\n".join(content.get("traceback", []))
            seen.append((time.monotonic() - started, text))

        reply = client.execute_interactive(FAILING_CALL, timeout=60, output_hook=collect)
        assert reply["content"]["status"] == "error", "the call to a dead Redis did not fail"
        named = [(t, text) for t, text in seen if "wb.start_redis()" in text]
        assert named, f"no message named the fix: {seen}"
        when, text = named[0]
        assert "workbook's Redis" in text and "starts empty" in text, text
        assert "Stopped with it" in text and "<rq worker default" in text, text
        print(f"message {when:.2f} s after the failing cell was sent")  # the figure, not a test
        out = run(client, "redis = wb.start_redis(); print(redis.client().ping(), worker.alive())")
        assert "It is empty" in out and "Restarted <rq worker default" in out, out
        assert out.rstrip().endswith("True True"), out  # the new Redis answers; the worker runs
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
        manager.cleanup_resources()
