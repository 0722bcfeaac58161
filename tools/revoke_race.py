"""Count how often a revoke of a fast-retrying Celery task does not end in REVOKED.

    .venv/bin/python tools/revoke_race.py [--runs 40] [--scale 0.1]

Notebook 02 revokes `charge_forever` (self.retry(countdown=seconds(0.5)), max_retries=None).
Celery's Task.retry() publishes the next attempt's message before the worker records RETRY;
a revoke that lands in between makes the worker discard that message and write REVOKED, and
the older attempt's RETRY then overwrites it. This prints, per run that ends so, the state,
the attempts, and whether the worker still lists the id as revoked (inspect().revoked()).
Figures, not assertions: the rate depends on the machine's load.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import sys
import time
import uuid
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--scale", type=float, default=0.1, help="DEMO_TIME_SCALE")
    args = parser.parse_args()
    os.environ["DEMO_TIME_SCALE"] = str(args.scale)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import workbook as wb

    store = wb.start_redis().client()  # sets REDIS_URL, which the app reads at import
    from app_snippets.ch02_celery import celery_retries

    worker = wb.celery_worker(celery_retries.celery_app)
    stuck = 0
    try:
        for run in range(args.runs):
            order = f"race-{uuid.uuid4().hex[:6]}"
            result = celery_retries.charge_forever.delay(order)
            time.sleep(random.uniform(0.3, 1.0))
            result.revoke()
            revoked_at = time.time()
            with contextlib.suppress(TimeoutError):  # the workbook's poller, 3 s at most
                wb.wait_for(lambda r=result: r.state == "REVOKED", 3, limit=3)
            if result.state == "REVOKED":
                continue
            stuck += 1
            last = float(store.lindex(f"attempts:{order}", -1))
            listed = celery_retries.celery_app.control.inspect(timeout=1).revoked() or {}
            print(
                f"run {run}: {result.state} after the revoke; last attempt"
                f" {last - revoked_at:+.2f} s from it; inspect().revoked() lists it:"
                f" {any(result.id in ids for ids in listed.values())}"
            )
    finally:
        worker.stop()
    print(f"{args.runs} revokes at DEMO_TIME_SCALE={args.scale}: {stuck} did not end in REVOKED")


if __name__ == "__main__":
    main()
