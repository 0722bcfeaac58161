"""Checks for exercise 13, over HTTP with a real server and a real Dramatiq worker.

What "correct" means, property by property:
1. The server names what it stores: a uuid4 hex and the extension of the detected type,
   in UPLOAD_DIR; a hostile filename ("../../evil.png") writes nothing outside it; the
   worker makes the avatar from that name.
2. The type comes from the bytes, not from what the client says: a JPEG named me.png and
   a PNG named me.jpg get the extensions of what they are, and a PNG sent as
   application/octet-stream is accepted.
3. What is not a whole image of an allowed type is refused with 415 and stores nothing:
   text named notes.png sent as image/png, a GIF, and a PNG cut short (it starts like a
   PNG: only checking the whole file tells it is broken).
4. The size limit holds against a dishonest client: an 8.7 MB PNG (MAX_BYTES is 1 MB) is
   refused with 413 and stores nothing, whether the request says its Content-Length, says
   none (a chunked body), or its file part claims a false Content-Length of 1000 bytes;
   and the endpoint reads no more than about MAX_BYTES of it (bytes read from the upload
   are counted: reading the whole upload, then checking its size, holds all of it in
   memory).
"""

from __future__ import annotations

import io
import re
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import starlette.formparsers
from PIL import Image

PNG_END = b"IEND\xaeB`\x82"  # the last chunk of every PNG file


class CountedUpload(tempfile.SpooledTemporaryFile):
    """The file Starlette spools an upload into, counting the bytes the endpoint reads."""

    read_total = 0

    def _count(self, data):
        CountedUpload.read_total += len(data)
        return data

    def read(self, *args):
        return self._count(super().read(*args))

    def read1(self, *args):
        return self._count(super().read1(*args))

    def readline(self, *args):
        return self._count(super().readline(*args))

    def readlines(self, *args):
        lines = super().readlines(*args)
        CountedUpload.read_total += sum(map(len, lines))
        return lines

    def readinto(self, buffer):
        count = super().readinto(buffer)
        CountedUpload.read_total += count or 0
        return count

    readinto1 = readinto

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.readline, b"")


@pytest.fixture
def uploads(tmp_path, monkeypatch) -> Path:
    """UPLOAD_DIR for this test, two folders deep, so that "../../x" would still land in
    tmp_path, where the test can see it."""
    folder = tmp_path / "srv" / "app" / "uploads"
    folder.mkdir(parents=True)
    monkeypatch.setenv("UPLOAD_DIR", str(folder))
    return folder


@pytest.fixture
def api(learner, uploads, serve, dramatiq_worker, monkeypatch):
    # `uploads` first: its UPLOAD_DIR then stays set until the worker has stopped.
    learner.broker.flush_all()  # no message left over from another test
    monkeypatch.setattr(starlette.formparsers, "SpooledTemporaryFile", CountedUpload)
    served = serve(learner.app)
    served.worker = dramatiq_worker(learner.broker)
    return served


def picture(kind: str, size: tuple[int, int] = (300, 200), **options) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 120, 40)).save(buffer, format=kind, **options)
    return buffer.getvalue()


CONTENT_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".gif": "image/gif"}


def upload(
    api, filename: str, data: bytes, what: str, content_type: str | None = None
) -> httpx.Response:
    """POST the file as a browser would: its content type guessed from its name."""
    kind = content_type or CONTENT_TYPES.get(Path(filename).suffix, "application/octet-stream")
    return send(api, what, files={"file": (filename, data, kind)})


def send(api, what: str, **request) -> httpx.Response:
    CountedUpload.read_total = 0
    try:
        response = api.client.post("/avatars", **request)
    except httpx.TransportError as exc:
        raise AssertionError(f"Uploading {what} got no answer ({exc!r}).\n{api.log()}") from None
    if response.status_code >= 500:
        deadline = time.monotonic() + 2
        while not api.raised() and time.monotonic() < deadline:
            time.sleep(0.01)
        raise AssertionError(
            f"Uploading {what} answered {response.status_code}: your endpoint raised.\n{api.log()}"
        )
    return response


def stored_name(api, response: httpx.Response, what: str) -> str:
    assert response.status_code == 202, (
        f"Uploading {what} answered {response.status_code} ({response.text[:200]}) instead"
        " of 202: it is an image the endpoint should accept."
    )
    name = response.json().get("image", "")
    assert re.fullmatch(r"[0-9a-f]{32}\.(png|jpg)", name), (
        f"Uploading {what} was stored as {name!r}: the server should choose the name itself,"
        " a uuid4 hex and the extension of the detected type, never the client's filename."
    )
    return name


def files_in(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def test_a_hostile_filename_is_stored_under_a_server_name_and_gets_an_avatar(
    api, uploads, tmp_path
):
    data = picture("PNG")
    name = stored_name(
        api,
        upload(api, "../../evil.png", data, "a PNG named ../../evil.png"),
        "a PNG named ../../evil.png",
    )
    escaped = sorted(str(p) for p in tmp_path.rglob("evil*"))
    assert not escaped, (
        f"A filename of ../../evil.png wrote {escaped}: the client chose where the file went."
    )
    assert (uploads / name).is_file() and (uploads / name).read_bytes() == data, (
        f"The upload is not in UPLOAD_DIR as {name}, byte for byte: store it in upload_dir()"
        " under the name you answer with."
    )
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            avatar = api.client.get(f"/avatars/{name}")
        except httpx.TransportError:  # the file grew while it was sent: the worker writes it
            continue
        if avatar.status_code == 200 and avatar.content.endswith(PNG_END):
            break  # the whole PNG: a read can catch the worker half-way through writing it
        time.sleep(0.05)
    assert avatar.status_code == 200, (
        f"No avatar for {name} 5 s after the upload: send make_avatar the stored image's name."
        f"\n{api.worker.log()}"
    )
    assert Image.open(io.BytesIO(avatar.content)).size == (64, 64)


def test_the_extension_comes_from_the_bytes_not_the_filename(api, uploads):
    jpeg = stored_name(
        api, upload(api, "me.png", picture("JPEG"), "a JPEG named me.png"), "a JPEG named me.png"
    )
    png = stored_name(
        api, upload(api, "me.jpg", picture("PNG"), "a PNG named me.jpg"), "a PNG named me.jpg"
    )
    assert jpeg.endswith(".jpg") and png.endswith(".png"), (
        f"A JPEG named me.png (sent as image/png) was stored as {jpeg}, a PNG named me.jpg"
        f" (sent as image/jpeg) as {png}: the extension must come from what the bytes are,"
        " not from the client's filename or content type."
    )
    what = "a PNG sent as application/octet-stream"
    response = upload(api, "me", picture("PNG"), what, "application/octet-stream")
    assert stored_name(api, response, what).endswith(".png"), (
        f"{what} was not stored as a .png: the bytes say what it is."
    )


WHATEVER_IT_SAYS = (
    "only the image types in ALLOWED may be stored: what the bytes are decides, whatever"
    " the name or the content type says."
)
REFUSED = [
    ("notes.png", b"root:x:0:0:root:/root:/bin/bash\n", "text named notes.png", WHATEVER_IT_SAYS),
    ("anim.png", picture("GIF"), "a GIF named anim.png", WHATEVER_IT_SAYS),
    (
        "cut.png",
        picture("PNG")[:200],
        "a PNG cut short (its first 200 bytes)",
        "it starts like a PNG, so its type reads PNG, but the file is broken. Check the whole"
        " file, not only the first bytes that tell its type.",
    ),
]


@pytest.mark.parametrize(
    ("filename", "data", "what", "why"), REFUSED, ids=["text", "gif", "cut-png"]
)
def test_what_is_not_a_whole_allowed_image_is_refused_with_415(
    api, uploads, filename, data, what, why
):
    response = upload(api, filename, data, what, "image/png")
    assert response.status_code == 415, (
        f"Uploading {what}, sent as image/png, answered {response.status_code} instead of"
        f" 415 (Unsupported Media Type): {why}"
    )
    assert not files_in(uploads), f"Uploading {what} left {files_in(uploads)} in UPLOAD_DIR."


BIG = picture("PNG", (1700, 1700), compress_level=0)  # 8.7 MB, a real PNG
BOUNDARY = uuid.uuid4().hex


def multipart(data: bytes, part_headers: str = "") -> bytes:
    return (
        (
            f"--{BOUNDARY}\r\n"
            'Content-Disposition: form-data; name="file"; filename="big.png"\r\n'
            f"Content-Type: image/png\r\n{part_headers}\r\n"
        ).encode()
        + data
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )


def in_pieces(body: bytes, size: int = 65536) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


CLIENTS = {
    "with an honest Content-Length": lambda: {"content": multipart(BIG)},
    "without a Content-Length (a chunked body)": lambda: {"content": in_pieces(multipart(BIG))},
    "whose file part claims a Content-Length of 1000": lambda: {
        "content": multipart(BIG, "Content-Length: 1000\r\n")
    },
}


@pytest.mark.parametrize("client", list(CLIENTS), ids=["honest", "chunked", "lying-part"])
def test_a_file_over_max_bytes_is_refused_with_413_without_reading_it_all(
    api, learner, uploads, client
):
    assert len(BIG) > 8 * learner.MAX_BYTES
    what = f"a {len(BIG):,}-byte PNG {client}"
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    response = send(api, what, headers=headers, **CLIENTS[client]())
    assert response.status_code == 413, (
        f"Uploading {what} answered {response.status_code} instead of 413 (Content Too"
        f" Large); MAX_BYTES is {learner.MAX_BYTES:,}. The size must be measured on the bytes"
        " that come, not taken from what the client says."
    )
    assert not files_in(uploads), f"The too-large upload left {files_in(uploads)} in UPLOAD_DIR."
    read = CountedUpload.read_total
    assert read <= 2 * learner.MAX_BYTES, (
        f"Your endpoint read {read:,} bytes of {what} before refusing it: all of it in memory"
        f" (a 1 GB upload would take 1 GB). Stop reading once more than MAX_BYTES"
        f" ({learner.MAX_BYTES:,}) have come."
    )
