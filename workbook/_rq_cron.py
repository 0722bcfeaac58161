"""rq_cron(): RQ's built-in cron scheduler (`rq cron CONFIG`) as a child process.

RQ's CronScheduler installs signal handlers and sleeps up to 60 s between checks, so it
cannot run in a kernel thread and stop on request; the real CLI runs as a child instead,
with the same process handle as the workers (.logs(), .kill(), .restart(), .stop()).
"""

from __future__ import annotations

import os
import sys
from typing import Any

import redis

from . import _registry
from ._redis import require
from ._workers import ProcessWorker, cli_flags, key

REGISTRY_KEY = "rq:cron_schedulers"  # rq.cron_scheduler_registry.get_registry_key()


def rq_cron(config: str, **options: Any) -> ProcessWorker:
    """Run `rq cron CONFIG` (against REDIS_URL) as a child process; return once it runs.

    config: the module that registers the cron jobs with `rq.cron.register(...)`, as a
    dotted path ("app_snippets.ch03_rq.rq_cron_config"). It only enqueues jobs: start a worker on
    their queue too. Running it again with the same config replaces the old scheduler.
    Extra options become CLI flags (logging_level="DEBUG" -> --logging-level DEBUG).
    """
    require(None, "The RQ cron scheduler")

    def start() -> ProcessWorker:
        argv = [sys.executable, "-m", "rq.cli", "cron", *cli_flags(options), config]

        def ready(process: Any) -> bool:
            connection = redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=1)
            with connection:
                names = connection.zrange(REGISTRY_KEY, 0, -1)
            return any(f":{process.pid}:".encode() in name for name in names)

        # The URL (with its password) goes through the environment, not the command line.
        env = {"RQ_REDIS_URL": os.environ["REDIS_URL"]}
        return ProcessWorker("rq-cron", config, argv, ready, env)

    return _registry.replace(key("rq-cron", config), start)
