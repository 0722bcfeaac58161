"""Exercise 02: an async background task that blocks the event loop.

After an upload, a background task makes a thumbnail. `make_thumbnail` is a blocking call
from an image library (think Pillow): two seconds of work that awaits nothing. The task
calls it inside `async def`, so while it runs the event loop runs nothing else: every
request, even GET /ping, waits. Keep the work, and keep the server answering.

Check your work: `wb.exercise("ex02").check()` in the notebook, or
`python -m workbook check ex02` in a terminal.
"""

from __future__ import annotations

import time

from fastapi import BackgroundTasks, FastAPI
from starlette.concurrency import run_in_threadpool  # Changed: added, see process_upload

from app_snippets.settings import seconds

app = FastAPI(title="Uploads")
THUMBNAILS: dict[str, str] = {}  # image name -> its thumbnail; a real app uses a database


def make_thumbnail(name: str) -> str:
    """A blocking library call: you cannot change it, only where it runs."""
    time.sleep(seconds(2))
    return f"{name}.thumbnail.png"


async def process_upload(name: str) -> None:
    # Changed: the blocking call runs in a worker thread, and the task awaits it, so the
    # event loop serves other requests meanwhile. (A plain `def process_upload` works too:
    # FastAPI runs def tasks in its thread pool. `asyncio.to_thread` works as well.)
    # Wrong: the thumbnail is made, but its name is guessed instead of taken from it.
    await run_in_threadpool(make_thumbnail, name)
    THUMBNAILS[name] = f"{name}.thumbnail.png"


@app.post("/uploads/{name}", status_code=202)
def upload(name: str, background_tasks: BackgroundTasks) -> dict[str, str]:
    background_tasks.add_task(process_upload, name)
    return {"name": name, "status": "processing"}


@app.get("/uploads/{name}")
def read_upload(name: str) -> dict[str, str | None]:
    return {"name": name, "thumbnail": THUMBNAILS.get(name)}


@app.get("/ping")
async def ping() -> dict[str, bool]:
    return {"pong": True}
