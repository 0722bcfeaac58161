"""Checks for exercise 20: place_order writes the order and its outbox entry in one
transaction and sends nothing; relay_once sends each entry once, keeps what failed for the
next run; and with the API killed at random points while orders come in, the relay and a
real RQ worker fulfil every saved order exactly once."""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from collections import Counter
from contextlib import closing

import httpx
import pytest

import workbook as wb

ORDERS = 24
KILL_CHANCE = 0.25  # of each request: 6 crashes in a run (seeded), each a ~5 s API restart


@pytest.fixture
def learner(learner, redis_server, tmp_path, monkeypatch):
    """The shared fixture's module, with a database and a Redis of this test's own."""
    monkeypatch.setenv("EX20_DB", str(tmp_path / "orders.db"))  # the API process inherits it
    redis_server.client().flushdb()
    return learner


def order(learner, order_id: str):
    return learner.Order(order_id=order_id, item="teapot", cents=2500)


def rows(db, sql: str) -> list:
    return db.execute(sql).fetchall()


def test_the_order_and_its_outbox_entry_are_one_transaction(learner):
    with closing(learner.connect()) as db:
        learner.place_order(db, order(learner, "first"))
        entries = rows(db, "SELECT order_id, sent_at FROM outbox")
        assert entries == [("first", None)], (
            f"After place_order, the outbox holds {entries}: it should hold one unsent entry"
            " (sent_at NULL) for the order, written with it."
        )
        waiting = learner.Queue(
            learner.QUEUE, connection=learner.Redis.from_url(learner.redis_url())
        ).count
        assert waiting == 0, (
            f"place_order queued {waiting} job(s) itself: the API only writes; the relay sends"
            " from the outbox (a crash after the commit would lose a job sent from here)."
        )
        db.executescript(
            "CREATE TRIGGER full BEFORE INSERT ON outbox WHEN NEW.order_id = 'second'"
            " BEGIN SELECT RAISE(ABORT, 'disk full'); END;"
        )
        with pytest.raises(sqlite3.Error):
            learner.place_order(db, order(learner, "second"))
        saved = rows(db, "SELECT id FROM orders WHERE id = 'second'")
        assert not saved, (
            "When writing the outbox entry failed, the order was saved anyway: it will never"
            " be fulfilled. Write both rows in one transaction (`with db:`), so that both are"
            " committed or neither."
        )


def test_the_relay_sends_each_entry_once_and_keeps_failures(learner):
    with closing(learner.connect()) as db:
        for n in range(5):
            learner.place_order(db, order(learner, f"o{n}"))
        sent: list[str] = []
        failed_once: set[str] = set()

        def send(order_id: str) -> None:
            if order_id == "o2" and order_id not in failed_once:
                failed_once.add(order_id)
                raise ConnectionError("Redis unreachable")
            sent.append(order_id)

        with pytest.raises(ConnectionError):
            learner.relay_once(db, send)  # o2's send fails: the relay stops there
        again = learner.relay_once(db, send)
        last = learner.relay_once(db, send)
    counts = Counter(sent)
    never = [f"o{n}" for n in range(5) if counts[f"o{n}"] == 0]
    twice = sorted(o for o, n in counts.items() if n > 1)
    assert not never, (
        f"{never} were never sent: an entry whose send() failed must stay unsent, so that"
        " the next relay sends it (mark an entry sent only after send() returned)."
    )
    assert not twice, (
        f"{twice} were sent twice or more by three relay runs: mark each entry sent once"
        " send() returned, and send only entries not marked."
    )
    assert sent == sorted(sent, key=lambda o: int(o[1:])), f"Sent out of order: {sent}."
    assert (again, last) == (3, 0), (
        f"The second and third relay runs returned {again} and {last}: they should return how"
        " many entries each sent (3, then 0)."
    )


def test_a_killed_api_loses_no_order_and_sends_none_twice(learner):
    rng = random.Random(20)
    api = wb.serve("ex20_outbox:app", process=True, name="ex20 orders")
    confirmed: set[str] = set()
    try:
        with httpx.Client(base_url=api.url, timeout=10) as client:
            for n in range(ORDERS):
                order_id = f"order-{n}"
                if rng.random() < KILL_CHANCE:  # a crash at a random moment of this request
                    threading.Timer(rng.uniform(0, 0.02), api.kill).start()
                for _ in range(2):  # the client retries once after a dropped connection
                    try:
                        response = client.post(
                            "/orders", json={"order_id": order_id, "item": "teapot", "cents": 2500}
                        )
                    except httpx.TransportError:
                        time.sleep(0.03)
                        if not api.alive():
                            api.restart()
                        continue
                    assert response.status_code < 300, (
                        f"POST /orders answered {response.status_code}: {response.text[:200]}"
                        f"\n{api.logs(20)}"
                    )
                    confirmed.add(order_id)
                    break
                time.sleep(0.03)  # let a pending kill land before the next order
                if not api.alive():
                    api.restart()
    finally:
        api.stop()
    worker = wb.rq_worker([learner.QUEUE], serializer="json")
    try:
        with closing(learner.connect()) as db:
            learner.relay_once(db, learner.enqueue_fulfilment)
            learner.relay_once(db, learner.enqueue_fulfilment)  # a second relay: harmless
            saved = {row[0] for row in rows(db, "SELECT id FROM orders")}
        store = learner.Redis.from_url(learner.redis_url(), decode_responses=True)
        deadline = time.monotonic() + 30
        while store.llen("ex20:fulfilled") < len(saved) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        fulfilled = Counter(store.lrange("ex20:fulfilled", 0, -1))
    finally:
        worker.stop()
    assert confirmed <= saved, (
        f"{sorted(confirmed - saved)[:3]} were confirmed to the client but are not in the database."
    )
    lost = sorted(saved - set(fulfilled))
    twice = sorted(o for o, n in fulfilled.items() if n > 1)
    assert not lost, (
        f"{len(lost)} of {len(saved)} saved orders were never fulfilled ({', '.join(lost[:3])}"
        "...) after the API was killed at random points: every saved order needs its outbox"
        f" entry, committed with it, for the relay to send.\nWorker log:\n{worker.logs(10)}"
    )
    assert not twice, f"{twice[:3]} were fulfilled twice: the relay sent them twice."
