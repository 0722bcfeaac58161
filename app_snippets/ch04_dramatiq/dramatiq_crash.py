"""A killed worker's messages: the Redis broker gives them back after a heartbeat timeout.

A worker fetches messages ahead (prefetch) and acknowledges each one when it is done. If
the worker dies, its fetched-but-unacknowledged messages stay assigned to it until another
broker notices that it has stopped sending heartbeats: `heartbeat_timeout` (60 s by
default), checked during "maintenance", which runs on a random 0.1% of broker commands by
default. This module shortens both, for the demo: 2 s, and maintenance on every command.
This broker is its own (not the chapter's), so its settings touch no other demo.
"""

from __future__ import annotations

import time

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from redis import Redis

from app_snippets.settings import redis_url, seconds

QUEUE = "crash-lab"
# Building one report: 0.5 s, and never under 0.3 s on a fast demo clock, so that 20 reports
# keep a 2-thread worker busy for seconds and a kill always finds some in flight.
REPORT_SECONDS = max(seconds(0.5), 0.3)
HEARTBEAT_TIMEOUT_MS = 2_000  # default 60_000; must exceed the gaps between a live worker's
# commands (an idle worker polls about once a second), or live workers lose their messages
broker = RedisBroker(
    url=redis_url(),
    heartbeat_timeout=HEARTBEAT_TIMEOUT_MS,
    maintenance_chance=1_000_000,  # out of a million commands: every one (default 1_000)
)


def key(run_id: str, what: str) -> str:
    return f"crash-lab:{run_id}:{what}"


@dramatiq.actor(broker=broker, queue_name=QUEUE, max_retries=0)
def export_report(run_id: str, report: int) -> None:
    with Redis.from_url(redis_url()) as client:
        client.rpush(key(run_id, "starts"), f"{report} {time.time()}")  # every start, repeats too
        time.sleep(REPORT_SECONDS)  # build the report
        client.hset(key(run_id, "done"), report, time.time())
