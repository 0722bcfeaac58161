"""Exercise 13: a safe upload endpoint.

POST /avatars takes an image upload, stores it in UPLOAD_DIR and sends a Dramatiq actor
its name; the actor makes a 64x64 avatar, which GET /avatars/{image_name} serves. The
endpoint is written like the article this workbook started from: the client's filename
becomes the path ("../../x.png" lands outside UPLOAD_DIR), and any bytes, of any size,
are stored and handed to Pillow in the worker.

Make the server decide:
- read at most MAX_BYTES of the upload; a larger file is refused with 413;
- find out with Pillow what the bytes are; anything but a type in ALLOWED is refused
  with 415 (whatever the filename or content type says);
- store the file as `<uuid4 hex>.<extension of the detected type>` in upload_dir(), send
  make_avatar that name, and answer 202 with {"image": <that name>}.

Check your work: `wb.exercise("ex13").check()` in the notebook, or
`workbook check ex13` in JupyterLab's Terminal.
"""

from __future__ import annotations

import os
import re
import tempfile
import uuid
from pathlib import Path

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from fastapi import FastAPI, HTTPException, UploadFile
from fastapi.responses import FileResponse
from PIL import Image, ImageOps

from app_snippets.settings import redis_url

MAX_BYTES = 1_000_000
ALLOWED = {"PNG": "png", "JPEG": "jpg"}  # Pillow's format name -> the file's extension
NAME = r"[0-9a-f]{32}\.(png|jpg)"  # the names the server gives: <uuid4 hex>.<extension>

broker = RedisBroker(url=redis_url())
app = FastAPI(title="Avatars")


def upload_dir() -> Path:
    """UPLOAD_DIR from the environment, as a deployment sets it."""
    default = Path(tempfile.gettempdir()) / "workbook-avatars"
    path = Path(os.environ.get("UPLOAD_DIR") or default).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def avatar_path(image_name: str) -> Path:
    if not re.fullmatch(NAME, image_name):
        raise ValueError(f"{image_name!r} is not a name this server gives")
    return upload_dir() / f"{image_name.rpartition('.')[0]}-avatar.png"


@dramatiq.actor(broker=broker, queue_name="ex13-avatars", max_retries=0)
def make_avatar(image_name: str) -> None:
    target = avatar_path(image_name)  # refuses a name the server did not give
    with Image.open(upload_dir() / image_name) as image:
        ImageOps.fit(image, (64, 64)).save(target, format="PNG")


@app.post("/avatars", status_code=202)
def upload_avatar(file: UploadFile) -> dict[str, str]:
    # Changed: read one byte more than allowed: if it comes, the file is too large. (The
    # client's filename, content type and Content-Length are its word, not facts.)
    data = file.file.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise HTTPException(413, f"The file is larger than {MAX_BYTES} bytes.")
    # Changed: ask Pillow what the bytes are, trying only the allowed formats; verify()
    # reads the whole file, so a truncated or corrupt one is refused here, not in the worker.
    # Wrong: the client's content type taken for what the bytes are.
    kinds = {"image/png": "PNG", "image/jpeg": "JPEG"}
    if file.content_type not in kinds:
        raise HTTPException(415, "Upload a PNG or JPEG image.")
    kind = kinds[file.content_type]
    # Changed: the server names the file, with the extension of the detected type; the
    # actor gets that name, never a path.
    image_name = f"{uuid.uuid4().hex}.{ALLOWED[kind]}"
    (upload_dir() / image_name).write_bytes(data)
    make_avatar.send(image_name)
    return {"image": image_name}


@app.get("/avatars/{image_name}")
def get_avatar(image_name: str) -> FileResponse:
    try:
        path = avatar_path(image_name)
    except ValueError:
        raise HTTPException(404, "No such image.") from None
    if not path.is_file():
        raise HTTPException(404, "No avatar (yet).")
    return FileResponse(path, media_type="image/png")
