"""The tutorial's upload-and-resize app (app_snippets/ch04_dramatiq/article_dramatiq/), made safe.

The tutorial writes the upload to `f"/tmp/{file.filename}"` and sends that path to the actor.
Here the server reads at most MAX_BYTES, finds out what the bytes really are (Pillow, not
the client's filename or content type), picks the file name itself (a uuid and the
extension of the detected type), stores it in UPLOAD_DIR, and sends the actor that name.
"""

from __future__ import annotations

import io
import uuid
from typing import Annotated

from fastapi import FastAPI, HTTPException, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from PIL import Image, UnidentifiedImageError

from app_snippets.ch04_dramatiq.dramatiq_images import (
    NAME_PATTERN,
    derived_name,
    make_thumbnail,
    stored_path,
)

MAX_BYTES = 2_000_000  # refuse bigger files (413); a proxy in front should refuse them first
MAX_PIXELS = 20_000_000  # a small file can decode to a huge image ("decompression bomb")
EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "GIF": "gif"}  # allowed types

app = FastAPI(title="Thumbnails (Dramatiq)")
ImageName = Annotated[str, PathParam(pattern=f"^{NAME_PATTERN}$")]


def read_at_most(file: UploadFile, limit: int) -> bytes:
    data = file.file.read(limit + 1)  # one byte more than allowed tells "too large"
    if len(data) > limit:
        raise HTTPException(413, f"The file is larger than {limit} bytes.")
    return data


def detect_extension(data: bytes) -> str:
    """The extension for what the bytes are; 415 unless they are an allowed image."""
    try:
        with Image.open(io.BytesIO(data), formats=list(EXTENSIONS)) as image:
            width, height, kind = image.width, image.height, image.format
            image.verify()  # reads the whole file: a truncated or corrupt one raises
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise HTTPException(415, "Upload a PNG, JPEG, WebP or GIF image.") from None
    if width * height > MAX_PIXELS:
        raise HTTPException(413, f"{width}x{height} pixels is more than {MAX_PIXELS}.")
    return EXTENSIONS[str(kind)]


# A `def` route: reading, Pillow and .send() (a network call) block, so FastAPI runs this
# in its thread pool instead of on the event loop.
@app.post("/images", status_code=202)
def upload_image(file: UploadFile) -> dict[str, str]:
    data = read_at_most(file, MAX_BYTES)
    image_name = f"{uuid.uuid4().hex}.{detect_extension(data)}"  # the server names the file
    stored_path(image_name).write_bytes(data)
    message = make_thumbnail.send(image_name)
    # The client's filename is kept only as a label to show back; it is never a path.
    return {"image": image_name, "message_id": message.message_id, "label": file.filename or ""}


@app.get("/images/{image_name}")
def get_image(image_name: ImageName) -> FileResponse:
    path = stored_path(image_name)
    if not path.is_file():
        raise HTTPException(404, "No such image.")
    return FileResponse(path)


@app.get("/images/{image_name}/thumbnail")
def get_thumbnail(image_name: ImageName) -> FileResponse:
    path = stored_path(derived_name(image_name, "t256"))
    if not path.is_file():
        raise HTTPException(404, "No thumbnail yet: the worker has not made it (or failed).")
    return FileResponse(path, media_type="image/png")
