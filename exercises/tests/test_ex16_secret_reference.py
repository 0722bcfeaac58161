"""Checks for exercise 16: a random API key is set in the environment; one order is charged
through each queue. While the message waits (no worker yet) and after a real worker ran it,
every key and value in Redis is searched for the API key (also inside zlib and base64, as an
attacker would unwrap them), and so is the worker's log; the receipt must be signed with
the real key."""

from __future__ import annotations

import base64
import binascii
import contextlib
import re
import secrets
import time
import zlib
from typing import Any

import pytest
from dramatiq.results import ResultFailure, ResultMissing
from redis import Redis

import workbook as wb

PATIENCE = 15.0


@pytest.fixture
def api_key(learner, monkeypatch) -> str:
    key = "sk_live_" + secrets.token_hex(16)
    monkeypatch.setenv(learner.PAYMENTS_KEY_VARIABLE, key)  # for the API and the workers
    return key


def unwrapped(value: bytes, depth: int = 3) -> list[tuple[str, bytes]]:
    """The value and what zlib and base64 (also nested) turn it into, with how."""
    found = [("plain", value)]
    if depth == 0:
        return found
    with contextlib.suppress(zlib.error):
        found += [
            (f"zlib, {how}", data) for how, data in unwrapped(zlib.decompress(value), depth - 1)
        ]
    for chunk in re.findall(rb"[A-Za-z0-9+/_-]{16,}={0,2}", value):
        with contextlib.suppress(binascii.Error, ValueError):
            decoded = base64.b64decode(
                chunk + b"=" * (-len(chunk) % 4),
                altchars=b"-_" if b"-" in chunk or b"_" in chunk else None,
            )
            found += [(f"base64, {how}", data) for how, data in unwrapped(decoded, depth - 1)]
    return found


def search_redis(url: str, secret: str) -> dict[str, str]:
    client = Redis.from_url(url)
    hits: dict[str, str] = {}
    for key in client.scan_iter(count=1000):
        kind = client.type(key)
        values: list[bytes] = []
        if kind == b"string":
            values = [client.get(key) or b""]
        elif kind == b"hash":
            values = [v for pair in client.hgetall(key).items() for v in pair]
        elif kind == b"list":
            values = client.lrange(key, 0, -1)
        elif kind in (b"set", b"zset"):
            values = list(client.smembers(key)) if kind == b"set" else client.zrange(key, 0, -1)
        for value in values:
            for how, data in unwrapped(value):
                if secret.encode() in data:
                    hits[key.decode(errors="replace")] = how.replace(", plain", "")
                    break
    client.close()
    return hits


def start_worker(queue: str, learner) -> Any:
    if queue == "Celery":
        return wb.celery_worker(learner.celery_app, concurrency=1)
    if queue == "RQ":
        return wb.rq_worker([learner.QUEUE])
    return wb.dramatiq_worker(learner.broker, threads=1)


def result_of(queue: str, sent: Any, learner) -> str:
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        if queue == "Celery" and sent.ready():
            if sent.failed():
                raise AssertionError(f"The Celery task failed: {sent.result!r}.")
            return sent.result
        if queue == "RQ":
            status = sent.get_status(refresh=True)
            if status == "finished":
                return sent.return_value()
            if status == "failed":
                error = sent.latest_result().exc_string.strip().splitlines()[-1]
                raise AssertionError(f"The RQ job failed: {error}.")
        if queue == "Dramatiq":
            try:
                return sent.get_result(backend=learner.results_backend)
            except ResultMissing:
                pass
            except ResultFailure as exc:
                raise AssertionError(f"The Dramatiq actor failed: {exc}.") from None
        time.sleep(0.05)
    raise AssertionError(f"No result from the {queue} worker within {PATIENCE:g} s.")


def where(hits: dict[str, str]) -> str:
    return "; ".join(f"{key} ({how})" for key, how in hits.items())


@pytest.mark.parametrize("queue", ["Celery", "RQ", "Dramatiq"])
def test_the_key_never_reaches_redis_or_the_log(learner, api_key, redis_server, queue):
    send = {"Celery": learner.send_celery, "RQ": learner.send_rq, "Dramatiq": learner.send_dramatiq}
    order_id = secrets.randbelow(10**6)
    sent = send[queue](order_id)  # no worker yet: the message waits in Redis
    queued = search_redis(redis_server.url, api_key)
    assert not queued, (
        f"Through {queue}, the API key was found in Redis while the message waited:"
        f" {where(queued)}."
        " Whatever the task receives is stored in the message: the key must not be an argument"
        " (hiding it in logs, or encoding it, does not take it out of Redis)."
    )
    worker = start_worker(queue, learner)
    try:
        receipt = result_of(queue, sent, learner)
        stored = search_redis(redis_server.url, api_key)
        log = [line for line in worker.logs(500).splitlines() if api_key in line]
    finally:
        worker.stop()
    assert not stored, (
        f"Through {queue}, the API key was found in Redis after the task ran: {where(stored)}."
    )
    assert not log, (
        f"Through {queue}, the API key was found in the worker's log: {log[0][:160]!r}. Never log"
        " a secret (nor put it in an exception message)."
    )
    assert receipt == learner.sign(order_id, api_key), (
        f"Through {queue}, the receipt was {receipt!r}, not the one signed with the real key:"
        " the task must sign with the key it reads from the environment where it runs."
    )
