"""Settings for every snippet, read from the environment, as a production app would.

The workbook sets REDIS_URL when it starts Redis; outside the workbook, set it yourself.
DEMO_TIME_SCALE shortens the demos' sleeps under test (1.0 = the real pacing).
"""

from __future__ import annotations

import os


def redis_url() -> str:
    """The Redis every queue uses as broker and result store."""
    return os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def time_scale() -> float:
    """Multiply every demo sleep by this; tests run with a small value."""
    return float(os.environ.get("DEMO_TIME_SCALE", "1.0"))


def seconds(duration: float) -> float:
    """A demo duration, scaled: `time.sleep(seconds(2))` sleeps 2 s for a learner."""
    return duration * time_scale()


def redis_client_options() -> dict[str, float]:
    """redis-py options that make a dead or hung Redis an error in seconds, not a hang.

    `socket_connect_timeout` bounds connecting (a host that drops packets would otherwise
    wait for the kernel's TCP timeout, minutes); `health_check_interval` pings a connection
    that sat idle longer than that before using it, so one left over from a restarted
    server is replaced instead of failing the call. No `socket_timeout` here: blocking reads
    (BLPOP, a result wait) legitimately take longer than any fixed read time-out.
    """
    return {"socket_connect_timeout": 2, "health_check_interval": 10}


def celery_redis_options() -> dict[str, object]:
    """Celery settings with the same bounds, for broker and result store.

    Without them, a `.delay()` from an app that had not used its result store yet retries
    the store 20 times, a second apart, then raises "The Celery application must be
    restarted" (it need not be: once Redis is back, the same app works).
    """
    client = redis_client_options()
    return {
        "broker_connection_timeout": client["socket_connect_timeout"],
        "broker_transport_options": {
            "socket_connect_timeout": client["socket_connect_timeout"],
            "health_check_interval": client["health_check_interval"],
        },
        "redis_socket_connect_timeout": client["socket_connect_timeout"],
        "redis_backend_health_check_interval": client["health_check_interval"],
        "result_backend_transport_options": {
            "retry_policy": {"max_retries": 2, "interval_start": 0, "interval_step": 0.5},
        },
    }
