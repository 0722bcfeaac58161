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
from concurrent.futures import ThreadPoolExecutor

from fastapi import BackgroundTasks, FastAPI

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
    # Wrong: make_thumbnail runs in another thread, but .result() waits for it right here,
    # on the event loop, which serves no one meanwhile.
    with ThreadPoolExecutor(1) as pool:
        THUMBNAILS[name] = pool.submit(make_thumbnail, name).result()


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
