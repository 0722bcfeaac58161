"""Nothing outlives the kernel: not on shutdown, and not when the kernel is SIGKILLed."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest
from kernels import group_members, living, run_json, start_kernel, wait_until_gone

from workbook._proctree import descendants

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

START_EVERYTHING = """
import json, workbook as wb
redis = wb.start_redis()
api = wb.serve("app_snippets.ch00_setup.slow_report:app", process=True)
workers = [
    wb.celery_worker(
        "app_snippets.ch00_setup.quickstart_celery:celery_app", process=True, concurrency=2
    ),
    wb.rq_worker(serializer="json", process=True),
    wb.dramatiq_worker("app_snippets.ch00_setup.quickstart_dramatiq", process=True),
]
import time, rq, redis as redis_py
from rq.serializers import JSONSerializer
# A job in progress: RQ's work horse runs it in a process group of its own.
connection = redis_py.Redis.from_url(redis.url)
queue = rq.Queue("default", connection=connection, serializer=JSONSerializer)
job = queue.enqueue("time.sleep", 60)
while job.get_status(refresh=True) != "started":
    time.sleep(0.05)
import workbook._watchdog as watchdog
from workbook._paths import runtime_dir
print(json.dumps({"groups": [redis.pid, api.pid] + [w.pid for w in workers],
                  "watchdog": watchdog._watchdog.pid, "runtime": str(runtime_dir())}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("how", ["sigkill", "shutdown"])
def test_every_child_is_gone_when_the_kernel_goes(how):
    manager, client = start_kernel()
    try:
        started = run_json(client, START_EVERYTHING)
        groups = set(started["groups"])
        children = group_members(groups)
        # Redis, uvicorn, 3 workers, plus celery's 2 pool processes and dramatiq's worker.
        assert len(children) >= 8, f"expected the workers' children too, found {children}"
        horses = set().union(*(descendants(pid) for pid in groups)) - children
        assert horses, "RQ's work horse (its own process group) should be running the job"
        children |= horses
        everything = children | {started["watchdog"]}
        assert living(everything) == everything
        if how == "sigkill":
            os.kill(manager.provisioner.pid, signal.SIGKILL)
        else:
            manager.shutdown_kernel(now=False)
        left = wait_until_gone(everything, 10)
        assert not left, f"still running 10 s after the kernel went ({how}): {sorted(left)}"
        assert not Path(started["runtime"]).exists(), "the kernel's log folder was left behind"
    finally:
        client.stop_channels()
        if manager.is_alive():
            manager.shutdown_kernel(now=True)
        manager.cleanup_resources()


ORPHAN = """
import json, time
from pathlib import Path
from workbook._procs import ChildProcess
from workbook._paths import runtime_dir
pid_file = runtime_dir() / "orphan.pid"
# A child whose own child leaves its group and session (setsid), then is orphaned when its
# parent exits: no group, session or parent leads to it any more, only the watchdog's record.
script = f"setsid sleep 304 & echo $! > {pid_file}; sleep 3"
parent = ChildProcess("orphan-maker", ["sh", "-c", script])
parent.start()
while parent.alive():
    time.sleep(0.1)
print(json.dumps({"orphan": int(pid_file.read_text())}))
"""


@pytest.mark.slow
def test_an_orphan_that_left_its_group_and_session_goes_with_the_kernel():
    manager, client = start_kernel()
    orphan = 0
    try:
        orphan = run_json(client, ORPHAN)["orphan"]
        assert living({orphan}) == {orphan}, "the orphan was not running: this tests nothing"
        os.kill(manager.provisioner.pid, signal.SIGKILL)
        assert not wait_until_gone({orphan}, 10), "the orphan outlived its kernel"
    finally:
        client.stop_channels()
        if manager.is_alive():
            manager.shutdown_kernel(now=True)
        manager.cleanup_resources()
        if orphan and living({orphan}):
            os.kill(orphan, signal.SIGKILL)  # leave nothing behind, even when the test fails
