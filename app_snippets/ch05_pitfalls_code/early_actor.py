"""The import-order trap: an actor declared before the broker is set. NOT to copy.

`@dramatiq.actor` without `broker=` binds to the global broker at import time. None is set
yet, so Dramatiq makes its default one (RabbitMQ if pika is installed, else Redis on
127.0.0.1:6379), and the `set_broker` below comes too late for this actor.
"""

from __future__ import annotations

import dramatiq


@dramatiq.actor(queue_name="ch05-early")
def build_report(report_id: int) -> None:
    print(f"report {report_id} built")


from app_snippets.ch05_pitfalls_code.brokers import broker  # noqa: E402

dramatiq.set_broker(broker)  # too late for build_report
