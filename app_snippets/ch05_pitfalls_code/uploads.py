"""Files between the API and the worker: a path on the API's disk means nothing elsewhere.

Every host has its own disk. `LOCAL_DIR` is a folder on *this* host (each process of the
lab gets its own, as each machine would); `SHARED_STORE` stands in for object storage (S3,
GCS, Azure Blob): one place every host reaches, addressed by a key the server chooses.
`FolderStore` has the interface such a client has (put bytes, get a key); swap it for one.
"""

from __future__ import annotations

import csv
import io
import os
import re
import uuid
from pathlib import Path

import dramatiq
from fastapi import FastAPI, HTTPException, UploadFile

from app_snippets.ch05_pitfalls_code.brokers import broker, celery_app, rq_queue

UPLOADS_QUEUE = "ch05-uploads"
MAX_BYTES = 1_000_000
HEADER = ["order_id", "amount"]


def local_dir() -> Path:
    """This host's own disk (set per process: CH05_LOCAL_DIR)."""
    return Path(os.environ["CH05_LOCAL_DIR"])


class FolderStore:
    """A folder with an object store's interface: the server picks every key."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, data: bytes) -> str:
        key = uuid.uuid4().hex
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / key).write_bytes(data)
        return key

    def get(self, key: str) -> bytes:
        if not re.fullmatch(r"[0-9a-f]{32}", key):
            raise ValueError(f"not a key this store issued: {key!r}")
        return (self.root / key).read_bytes()


def shared_store() -> FolderStore:
    """The store every host reaches (CH05_SHARED_STORE is the same for all of them)."""
    return FolderStore(Path(os.environ["CH05_SHARED_STORE"]))


def count_rows_in_file(name: str) -> int:
    """The mistake: the task opens a file by a name on the API's disk."""
    return len((local_dir() / name).read_text().splitlines()) - 1


def count_rows(key: str) -> int:
    """The fix: the task fetches the bytes from the shared store by their key."""
    return len(shared_store().get(key).decode().splitlines()) - 1


OPTIONS = {"broker": broker, "queue_name": UPLOADS_QUEUE, "store_results": True, "max_retries": 0}
for function in (count_rows_in_file, count_rows):
    celery_app.task(name=f"ch05.{function.__name__}")(function)
    dramatiq.actor(function, actor_name=f"ch05_{function.__name__}", **OPTIONS)


def send(queue: str, function_name: str, argument: str) -> object:
    """Enqueue `function_name(argument)` on "celery", "rq" or "dramatiq"; the handle back."""
    if queue == "celery":
        return celery_app.send_task(f"ch05.{function_name}", args=(argument,), queue=UPLOADS_QUEUE)
    if queue == "rq":
        return rq_queue(UPLOADS_QUEUE).enqueue(f"{__name__}.{function_name}", argument)
    return broker.get_actor(f"ch05_{function_name}").send(argument)


def handle_id(handle: object) -> str:
    """The task's id (Celery, RQ) or the message's id (Dramatiq)."""
    return str(getattr(handle, "message_id", None) or getattr(handle, "id", ""))


app = FastAPI()


def checked_csv(data: bytes, content_type: str | None) -> None:
    """413 above MAX_BYTES; 415 unless it is a CSV with the expected header."""
    if len(data) > MAX_BYTES:
        raise HTTPException(413, f"at most {MAX_BYTES} bytes")
    try:
        header = next(csv.reader(io.StringIO(data.decode("utf-8"))))
    except (UnicodeDecodeError, StopIteration, csv.Error):
        header = None
    if content_type != "text/csv" or header != HEADER:
        raise HTTPException(415, f"a CSV file with the header {','.join(HEADER)}")


@app.post("/imports/saved-locally", status_code=202)
def import_saved_locally(file: UploadFile, queue: str) -> dict[str, str]:
    """The mistake: save on this host's disk, hand the worker the file's name."""
    data = file.file.read(MAX_BYTES + 1)
    checked_csv(data, file.content_type)
    name = f"{uuid.uuid4().hex}.csv"
    local_dir().mkdir(parents=True, exist_ok=True)
    (local_dir() / name).write_bytes(data)
    return {"file": name, "id": handle_id(send(queue, "count_rows_in_file", name))}


@app.post("/imports", status_code=202)
def import_orders(file: UploadFile, queue: str) -> dict[str, str]:
    """The fix: put the bytes in the shared store, hand the worker the key."""
    data = file.file.read(MAX_BYTES + 1)
    checked_csv(data, file.content_type)
    key = shared_store().put(data)
    return {"key": key, "id": handle_id(send(queue, "count_rows", key))}
