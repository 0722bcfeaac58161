"""Count Celery .get() calls that miss their result after the workbook restarts its Redis.

    .venv/bin/python tools/celery_get_after_restart.py [--rounds 100] [--keep-listeners]

Each round is notebook 00's Celery cell as a second Run All meets it: start Redis, one
add(2, 3) through a thread worker and one through a `celery worker` process, each awaited
with .get(timeout=10), then wb.stop_all(). It counts the rounds whose .get() went through
Celery's pub/sub reconnect, and the .get() calls that timed out although the result was
stored. --keep-listeners turns off what the workbook's Redis stop does about it (it closes
this thread's result listeners first), to see the failure. Figures, not assertions: the
miss needs a busy machine (run two `python3 -c "while True: pass"` beside it).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--keep-listeners", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

    import workbook as wb
    from workbook import _celery_results

    wb.start_redis()  # before the app's import: it reads REDIS_URL
    from celery.backends.redis import ResultConsumer

    from app_snippets.ch00_setup import quickstart_celery

    if args.keep_listeners:
        _celery_results.close_result_listeners = lambda: 0
    reconnects = []
    original = ResultConsumer._reconnect_pubsub

    def counted(consumer: ResultConsumer) -> None:
        reconnects.append(time.perf_counter())
        original(consumer)

    ResultConsumer._reconnect_pubsub = counted
    app, add = quickstart_celery.celery_app, quickstart_celery.add
    gets = missed = with_reconnect = 0
    for n in range(args.rounds):
        wb.start_redis()
        before = len(reconnects)
        for process in (False, True):
            worker = wb.celery_worker(
                "app_snippets.ch00_setup.quickstart_celery:celery_app" if process else app,
                process=process,
            )
            result = add.delay(2, 3)
            gets += 1
            try:
                result.get(timeout=10)
            except Exception:  # celery's TimeoutError: was the result there all along?
                missed += result.state == "SUCCESS"
            worker.stop()
        with_reconnect += len(reconnects) > before
        wb.stop_all()
        print(f"round {n + 1}/{args.rounds}: missed {missed}", end="\r", flush=True)
    how = "listeners kept" if args.keep_listeners else "as the workbook does"
    print(
        f"\n{args.rounds} rounds ({how}):"
        f" {with_reconnect} went through Celery's pub/sub reconnect;"
        f" {missed} of {gets} .get() calls timed out with the result stored"
    )


if __name__ == "__main__":
    main()
