"""Count what Celery's .delay() raises when a full Redis refuses it, with and without
Celery's publish retry.

    .venv/bin/python tools/full_redis_publish.py [--floods 300]

Each flood fills a fresh `maxmemory` (used memory + 256 KiB, noeviction) one .delay() at a
time, as notebook 06 does, until a call raises. With the default retry, kombu 5.7 treats
Redis's OOM refusal as a lost connection: it reconnects and tries again. When the refusal
hits the queue declaration, that reconnect closes the channel the publish already holds; if
the retried declaration then gets through (closing the old connection freed a little
memory), the publish goes on with the closed channel and raises AttributeError instead of
the refusal. Without the retry there is no reconnect. Figures, not assertions: the rate
depends on the machine's load.
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--floods", type=int, default=300)
    args = parser.parse_args()
    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root))
    import workbook as wb
    from app_snippets.ch06_pitfalls_delivery import flood

    server = wb.start_redis(name="full-Redis publish")
    client = server.client()
    try:
        for retry in (True, False):
            raised: collections.Counter[str] = collections.Counter()
            started = time.perf_counter()
            for _ in range(args.floods):
                senders = flood.Senders(server.url)
                senders.celery_app.conf.task_publish_retry = retry
                client.execute_command("FLUSHALL", "SYNC")
                client.config_set("maxmemory", client.info("memory")["used_memory"] + 256 * 1024)
                try:
                    senders.one_by_one("celery", range(100_000))
                    raised["nothing"] += 1
                except Exception as error:  # which one is the figure
                    raised[f"{type(error).__module__}.{type(error).__name__}"] += 1
                finally:
                    client.config_set("maxmemory", 0)
                    senders.close()
            took = time.perf_counter() - started
            print(f"task_publish_retry={retry}: {args.floods} floods in {took:.0f} s raised")
            for name, count in raised.most_common():
                print(f"    {count:5}  {name}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
