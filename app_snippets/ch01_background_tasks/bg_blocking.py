"""An `async def` task that blocks stalls the whole server; a `def` task does not.

All four tasks wait two seconds. The first calls `time.sleep` inside `async def`: it runs on
the event loop, and nothing else is served until it returns. The others are the fixes: a
plain `def` task (FastAPI runs it in a thread pool), an `async def` task that *awaits* its
wait, and an `async def` task that hands a blocking call to a thread.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from fastapi import BackgroundTasks, FastAPI, HTTPException
from starlette.concurrency import run_in_threadpool

from app_snippets.settings import seconds

app = FastAPI(title="Blocking tasks")
FINISHED: list[str] = []  # which tasks have finished, in order


async def blocking_task() -> None:
    time.sleep(seconds(2))  # a blocking call on the event loop: the server stalls
    FINISHED.append("blocking")


def thread_pool_task() -> None:
    time.sleep(seconds(2))  # a def task runs in the thread pool: the loop stays free
    FINISHED.append("def")


async def awaiting_task() -> None:
    await asyncio.sleep(seconds(2))  # awaiting gives the loop back while we wait
    FINISHED.append("await")


async def offloading_task() -> None:
    await run_in_threadpool(time.sleep, seconds(2))  # a blocking call moved to a thread
    FINISHED.append("to-thread")


TASKS: dict[str, Callable[[], Awaitable[None] | None]] = {
    "blocking": blocking_task,
    "def": thread_pool_task,
    "await": awaiting_task,
    "to-thread": offloading_task,
}


@app.get("/ping")
async def ping() -> dict[str, bool]:
    return {"pong": True}


@app.post("/tasks/{kind}", status_code=202)
def start_task(kind: str, background_tasks: BackgroundTasks) -> dict[str, str]:
    if kind not in TASKS:
        raise HTTPException(status_code=404, detail=f"No task {kind!r}; try one of {list(TASKS)}")
    background_tasks.add_task(TASKS[kind])
    return {"task": kind, "status": "started"}


@app.get("/tasks/finished")
def finished_tasks() -> list[str]:
    return FINISHED
