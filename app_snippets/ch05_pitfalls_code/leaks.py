"""Look for a secret where task arguments end up: every key of a Redis, and log text.

What an attacker with a copy of your Redis (or your logs) would do: read every value, and
undo the usual wrappings (zlib, which RQ uses; base64, which Celery uses for message bodies).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import re
import zlib

from redis import Redis


def _values(client: Redis, key: bytes) -> list[bytes]:
    kind = client.type(key)
    if kind == b"string":
        return [client.get(key) or b""]
    if kind == b"hash":
        return [value for pair in client.hgetall(key).items() for value in pair]
    if kind == b"list":
        return client.lrange(key, 0, -1)
    if kind == b"set":
        return list(client.smembers(key))
    if kind == b"zset":
        return client.zrange(key, 0, -1)
    if kind == b"stream":
        return [v for _, fields in client.xrange(key) for pair in fields.items() for v in pair]
    return []


def _unwrapped(value: bytes) -> list[tuple[str, bytes]]:
    """The value, and what zlib or base64 (also inside JSON) turn it into."""
    found = [("plain", value)]
    with contextlib.suppress(zlib.error):
        found.append(("zlib", zlib.decompress(value)))
    for chunk in re.findall(rb"[A-Za-z0-9+/]{16,}={0,2}", value):
        with contextlib.suppress(binascii.Error, ValueError):
            found.append(("base64", base64.b64decode(chunk, validate=True)))
    return found


def find_in_redis(url: str, secret: str) -> dict[str, str]:
    """{key: how it was found} for every key in the Redis at `url` whose value holds `secret`."""
    client = Redis.from_url(url)  # bytes, as stored
    needle = secret.encode()
    hits: dict[str, str] = {}
    for key in client.scan_iter(count=1000):
        found = {how for value in _values(client, key) for how, data in _unwrapped(value)
                 if needle in data}  # fmt: skip
        if found:
            hits[key.decode(errors="replace")] = ", ".join(sorted(found))
    client.close()
    return hits


def lines_with(text: str, secret: str) -> list[str]:
    """The lines of a log that hold `secret`."""
    return [line for line in text.splitlines() if secret in line]
