"""Background tasks live and die with the server process.

Each export records its state in Redis ("pending", "running", "done"), outside the server,
so that after the process is gone we can count what finished and what was lost.
"""

from __future__ import annotations

import time
import uuid

from fastapi import BackgroundTasks, FastAPI
from redis import Redis

from app_snippets.settings import redis_url, seconds

app = FastAPI(title="Exports")
EXPORTS_KEY = "exports"  # a Redis hash: export id -> state
EXPORT_SECONDS = max(seconds(3), 1.0)  # 3 s; at least 1 s on a fast demo clock, so exports overlap


def redis() -> Redis:
    return Redis.from_url(redis_url(), decode_responses=True)


def set_state(export_id: str, state: str) -> None:
    with redis() as client:
        client.hset(EXPORTS_KEY, export_id, state)


def export_data(export_id: str) -> None:
    set_state(export_id, "running")
    time.sleep(EXPORT_SECONDS)  # the slow part: query, build a CSV, upload it
    set_state(export_id, "done")


@app.post("/exports", status_code=202)
def create_export(background_tasks: BackgroundTasks) -> dict[str, str]:
    export_id = uuid.uuid4().hex
    set_state(export_id, "pending")
    background_tasks.add_task(export_data, export_id)
    return {"id": export_id, "state": "pending"}


@app.get("/exports")
def list_exports() -> dict[str, str]:
    with redis() as client:
        return client.hgetall(EXPORTS_KEY)
