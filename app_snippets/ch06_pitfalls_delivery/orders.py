"""The transaction race and the outbox: an orders API on SQLite whose every saved order
needs one fulfilment task, on Celery, RQ or Dramatiq.

Three ways to write POST /orders:
- /race: enqueue inside the open transaction, commit afterwards. The worker can run before
  the commit and not find the order.
- /commit-first: commit, then enqueue. A crash between the two saves an order that no task
  will ever fulfil.
- /outbox: the order and an outbox entry in ONE transaction; `relay_once` sends the outbox
  entries and marks them sent (a crash before the mark sends again: at least once).
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import time
from contextlib import closing
from pathlib import Path

import dramatiq
from celery import Celery
from dramatiq.brokers.redis import RedisBroker
from fastapi import FastAPI, HTTPException
from redis import Redis
from rq import Queue
from rq.serializers import JSONSerializer

from app_snippets.settings import redis_url

QUEUE = "ch06-orders"
LIBRARIES = ("celery", "rq", "dramatiq")
# The rest of the request after the enqueue (or after the commit): validation, an audit
# line, a slow disk. 50 ms, so that a crash can land in it.
REST_OF_REQUEST = 0.05
SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY, library TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT, order_id TEXT NOT NULL, library TEXT NOT NULL,
    sent_at REAL
);
"""

app = FastAPI(title="Orders")


def db_path() -> Path:
    """Set by the deployment (ORDERS_DB), never by a request."""
    default = Path(tempfile.gettempdir()) / "workbook-ch06-orders.db"
    return Path(os.environ.get("ORDERS_DB", default))


def connect() -> sqlite3.Connection:
    db = sqlite3.connect(db_path(), timeout=10)
    db.execute("PRAGMA journal_mode=WAL")  # readers (the workers) do not wait for writers
    db.executescript(SCHEMA)
    return db


def fulfil(order_id: str) -> None:
    """The task: find the saved order and fulfil it (recorded in Redis for counting)."""
    with closing(connect()) as db:
        found = db.execute("SELECT library FROM orders WHERE id = ?", (order_id,)).fetchone()
    with Redis.from_url(redis_url()) as client:
        client.rpush("ch06:orders:fulfilled" if found else "ch06:orders:not-found", order_id)


celery_app = Celery("ch06_orders", broker=redis_url())
celery_app.conf.update(task_default_queue=QUEUE, task_ignore_result=True)
celery_fulfil = celery_app.task(name="ch06.fulfil")(fulfil)
broker = RedisBroker(url=redis_url())
dramatiq_fulfil = dramatiq.actor(fulfil, broker=broker, queue_name=QUEUE)


def send(library: str, order_id: str) -> None:
    """Enqueue the fulfilment task on `library`'s queue."""
    if library == "celery":
        celery_fulfil.delay(order_id)
    elif library == "rq":
        queue = Queue(QUEUE, connection=Redis.from_url(redis_url()), serializer=JSONSerializer)
        queue.enqueue(fulfil, order_id)
    else:
        dramatiq_fulfil.send(order_id)


def check(library: str) -> None:
    if library not in LIBRARIES:
        raise HTTPException(status_code=404, detail=f"library is one of {LIBRARIES}")


@app.post("/race/{library}/{order_id}", status_code=201)
def order_race(library: str, order_id: str) -> dict[str, str]:
    check(library)
    with closing(connect()) as db, db:  # one transaction, committed at the end of `with`
        db.execute("INSERT INTO orders VALUES (?, ?)", (order_id, library))
        send(library, order_id)  # the worker may look before the commit below
        time.sleep(REST_OF_REQUEST)
    return {"order_id": order_id}


@app.post("/commit-first/{library}/{order_id}", status_code=201)
def order_commit_first(library: str, order_id: str) -> dict[str, str]:
    check(library)
    with closing(connect()) as db, db:
        db.execute("INSERT INTO orders VALUES (?, ?)", (order_id, library))
    time.sleep(REST_OF_REQUEST)  # a crash here: saved, never sent
    send(library, order_id)
    return {"order_id": order_id}


@app.post("/outbox/{library}/{order_id}", status_code=201)
def order_outbox(library: str, order_id: str) -> dict[str, str]:
    check(library)
    with closing(connect()) as db, db:  # both rows, or neither
        db.execute("INSERT INTO orders VALUES (?, ?)", (order_id, library))
        db.execute("INSERT INTO outbox (order_id, library) VALUES (?, ?)", (order_id, library))
    time.sleep(REST_OF_REQUEST)  # a crash here loses nothing: the outbox has it
    return {"order_id": order_id}


def relay_once() -> int:
    """Send every unsent outbox entry, oldest first, marking each sent after its send.
    Run it in a loop (or a worker of its own); running two at once may send twice."""
    sent = 0
    with closing(connect()) as db:
        rows = db.execute(
            "SELECT id, order_id, library FROM outbox WHERE sent_at IS NULL ORDER BY id"
        ).fetchall()
        for entry_id, order_id, library in rows:
            send(library, order_id)
            with db:
                db.execute("UPDATE outbox SET sent_at = ? WHERE id = ?", (time.time(), entry_id))
            sent += 1
    return sent


def tally() -> dict[str, dict[str, int]]:
    """Per library: orders saved, fulfilled once, twice or more, never (lost), and tasks
    that ran before their order was visible (not found)."""
    with closing(connect()) as db:
        saved = db.execute("SELECT id, library FROM orders").fetchall()
    with Redis.from_url(redis_url(), decode_responses=True) as client:
        fulfilled = client.lrange("ch06:orders:fulfilled", 0, -1)
        not_found = set(client.lrange("ch06:orders:not-found", 0, -1))
    counts: dict[str, dict[str, int]] = {}
    for library in LIBRARIES:
        ids = [order_id for order_id, lib in saved if lib == library]
        runs = [fulfilled.count(order_id) for order_id in ids]
        counts[library] = {
            "saved": len(ids),
            "fulfilled once": runs.count(1),
            "twice or more": sum(1 for n in runs if n > 1),
            "never (lost)": runs.count(0),
            "ran before the commit": sum(1 for order_id in ids if order_id in not_found),
        }
    return counts
