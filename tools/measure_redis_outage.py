"""How long the first call stalls after the workbook's Redis died, with and without the
client settings of app_snippets/settings.py (issue 11, point 6). Prints; asserts nothing.

    .venv/bin/python tools/measure_redis_outage.py
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis
from celery import Celery

import workbook as wb
from app_snippets.settings import celery_redis_options, redis_client_options


def first_call(what: str, call) -> None:
    started = time.monotonic()
    try:
        call()
        outcome = "no error"
    except Exception as exc:
        outcome = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:70]}"
    print(f"{what:<44} {time.monotonic() - started:5.1f} s  {outcome}")


def add(x: int, y: int) -> int:
    return x + y


def measure(bounded: bool) -> None:
    server = wb.start_redis()
    url = os.environ["REDIS_URL"]
    app = Celery(f"outage{int(bounded)}", broker=url, backend=url)
    if bounded:
        app.conf.update(celery_redis_options())
    task = app.task(name="outage.add")(add)
    server.process.kill()
    label = "with settings.py options" if bounded else "library defaults"
    first_call(f"celery .delay() ({label})", lambda: task.delay(1, 2))
    options = redis_client_options() if bounded else {}
    first_call(f"redis-py .ping() ({label})", lambda: redis.Redis.from_url(url, **options).ping())
    wb.stop_all()


def main() -> None:
    for bounded in (False, True):
        measure(bounded)


if __name__ == "__main__":
    main()
