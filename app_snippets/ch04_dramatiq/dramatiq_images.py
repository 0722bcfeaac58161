"""Image storage and the image actors: file names chosen by the server, files in UPLOAD_DIR.

An actor receives an image *name* that the server made (`<uuid>.<ext>`), never a path:
`stored_path()` refuses any other name, so no message can make a worker read or write
outside the upload directory.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import dramatiq
from PIL import Image, ImageOps, UnidentifiedImageError

from app_snippets.ch04_dramatiq.dramatiq_broker import broker

QUEUE = "images"
# <32 hex digits>[-suffix...].<ext>, e.g. 3f2a...c1.png or 3f2a...c1-w512-gray-t128.png
NAME_PATTERN = r"[0-9a-f]{32}(-[a-z0-9]+)*\.(png|jpg|webp|gif)"


def upload_dir() -> Path:
    """Where images live: UPLOAD_DIR from the environment, as a deployment sets it."""
    default = Path(tempfile.gettempdir()) / "workbook-uploads"
    path = Path(os.environ.get("UPLOAD_DIR") or default).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def stored_path(image_name: str) -> Path:
    """The file of an image this server stored; ValueError for any other name."""
    if not re.fullmatch(NAME_PATTERN, image_name):
        raise ValueError(f"{image_name!r} is not the name of an image this server stored")
    return upload_dir() / image_name


def derived_name(image_name: str, suffix: str) -> str:
    """The name of an image made from another: 3f2a...c1.png + "t256" -> 3f2a...c1-t256.png."""
    stem, _, _ = image_name.rpartition(".")
    return f"{stem}-{suffix}.png"


def save_png(image: Image.Image, image_name: str) -> None:
    """Write the image under a temporary name, then rename it: a reader (GET /thumbnail)
    sees no file or the whole file, never half a PNG. The rename is atomic in one folder."""
    final = stored_path(image_name)
    partial = final.with_name(f".{final.name}.partial")  # not an image name: never served
    image.save(partial, format="PNG")
    os.replace(partial, final)


# The tutorial's `resize_image(image_path, size)`, made real and safe: a name in, a thumbnail
# out. ValueError (a bad name) and UnidentifiedImageError (not an image) fail at once: a retry
# cannot help.
@dramatiq.actor(
    broker=broker,
    queue_name=QUEUE,
    store_results=True,
    max_retries=3,
    throws=(ValueError, UnidentifiedImageError),
)
def make_thumbnail(image_name: str, size: int = 256) -> dict[str, int | str]:
    with Image.open(stored_path(image_name)) as image:
        image.thumbnail((size, size))  # keeps the aspect ratio; never enlarges
        thumbnail = derived_name(image_name, f"t{size}")
        save_png(image, thumbnail)
        return {"thumbnail": thumbnail, "width": image.width, "height": image.height}


# Two steps for a pipeline: each takes an image name and returns the new image's name.
@dramatiq.actor(broker=broker, queue_name=QUEUE, store_results=True, max_retries=0)
def resize(image_name: str, width: int) -> str:
    with Image.open(stored_path(image_name)) as image:
        height = round(image.height * width / image.width)
        resized = derived_name(image_name, f"w{width}")
        save_png(image.resize((width, height)), resized)
    return resized


@dramatiq.actor(broker=broker, queue_name=QUEUE, store_results=True, max_retries=0)
def grayscale(image_name: str) -> str:
    with Image.open(stored_path(image_name)) as image:
        gray = derived_name(image_name, "gray")
        save_png(ImageOps.grayscale(image), gray)
    return gray
