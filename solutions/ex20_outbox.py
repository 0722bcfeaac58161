"""Exercise 20: a transactional outbox.

POST /orders saves an order in SQLite, and a job must fulfil every saved order. Enqueue
before the commit and the worker may look for a row that is not there yet; commit, then
enqueue, and a crash in between leaves an order that is never fulfilled (notebook 06,
section 4). The outbox closes both gaps: the order and an outbox entry for it are written
in ONE transaction, and a relay sends what the outbox holds, and marks it sent.

Two functions to write:
1. place_order(): the order row and its outbox row, in one transaction (both or neither).
   It sends nothing itself.
2. relay_once(db, send): call send(order_id) for every outbox entry not yet sent, oldest
   first, and mark each one sent once send() returned. An entry whose send() raised stays
   unsent, for the next relay. Running it again sends nothing new.

The check kills the API at random points while orders come in, runs your relay with a
real RQ worker behind it, and counts what was fulfilled.

Check your work: `wb.exercise("ex20").check()` in the notebook, or
`workbook check ex20` in JupyterLab's Terminal.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

from fastapi import FastAPI
from pydantic import BaseModel
from redis import Redis
from rq import Queue
from rq.serializers import JSONSerializer

from app_snippets.settings import redis_url

QUEUE = "ex20-orders"
SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY, item TEXT NOT NULL, cents INTEGER);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT, order_id TEXT NOT NULL, sent_at REAL
);
"""

app = FastAPI(title="Orders")


class Order(BaseModel):
    order_id: str
    item: str
    cents: int


def db_path() -> Path:
    """The database file: set by the deployment (EX20_DB), never by a request."""
    return Path(os.environ.get("EX20_DB", Path(tempfile.gettempdir()) / "ex20-orders.db"))


def connect() -> sqlite3.Connection:
    db = sqlite3.connect(db_path(), timeout=10)
    db.executescript(SCHEMA)
    return db


def place_order(db: sqlite3.Connection, order: Order) -> None:
    """Save the order and its outbox entry, in one transaction."""
    # Changed: `with db:` is one transaction: it commits both inserts together, or rolls
    # both back if either fails. Nothing is sent here: the relay sends from the outbox.
    with db:
        db.execute(
            "INSERT INTO orders (id, item, cents) VALUES (?, ?, ?)",
            (order.order_id, order.item, order.cents),
        )
        db.execute("INSERT INTO outbox (order_id) VALUES (?)", (order.order_id,))


def relay_once(db: sqlite3.Connection, send: Callable[[str], object]) -> int:
    """Send every unsent outbox entry, oldest first; return how many were sent."""
    # Changed: read the unsent entries; send each, and only then mark it sent (a crash
    # between the two sends it again next time: at least once, never lost).
    rows = db.execute("SELECT id, order_id FROM outbox WHERE sent_at IS NULL ORDER BY id")
    sent = 0
    for entry_id, order_id in rows.fetchall():
        send(order_id)
        with db:
            db.execute("UPDATE outbox SET sent_at = ? WHERE id = ?", (time.time(), entry_id))
        sent += 1
    return sent


def fulfil(order_id: str) -> str:
    """The job: fulfil a saved order. Do not change it."""
    with closing(connect()) as db:
        found = db.execute("SELECT item FROM orders WHERE id = ?", (order_id,)).fetchone()
    with Redis.from_url(redis_url()) as client:
        client.rpush("ex20:fulfilled" if found else "ex20:not-found", order_id)
    return order_id


def enqueue_fulfilment(order_id: str) -> None:
    """What the relay sends through: one RQ job per order. Do not change it."""
    queue = Queue(QUEUE, connection=Redis.from_url(redis_url()), serializer=JSONSerializer)
    queue.enqueue(fulfil, order_id)


@app.post("/orders", status_code=201)
def create_order(order: Order) -> dict[str, str]:
    with closing(connect()) as db:
        try:
            place_order(db, order)
        except sqlite3.IntegrityError:  # a client retrying an order that was saved
            return {"order_id": order.order_id, "status": "already placed"}
    return {"order_id": order.order_id, "status": "placed"}
