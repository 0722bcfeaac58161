"""Checks for exercise 13, over HTTP with a real server and a real Dramatiq worker: the server
names stored files itself (a uuid and the detected type's extension), a hostile filename
writes nothing outside UPLOAD_DIR, non-images get 415, files over MAX_BYTES get 413, and
the worker makes the avatar from the stored name."""

from __future__ import annotations

import importlib
import io
import os
import re
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image

MODULE = "ex13_safe_upload"
PNG_END = b"IEND\xaeB`\x82"  # the last chunk of every PNG file


@pytest.fixture(scope="module")
def learner(redis_server):
    # Imported once Redis runs: the module reads REDIS_URL when it is imported.
    return importlib.import_module(MODULE)


@pytest.fixture
def uploads(tmp_path, monkeypatch) -> Path:
    """UPLOAD_DIR for this test, two folders deep, so that "../../x" would still land in
    tmp_path, where the test can see it."""
    folder = tmp_path / "srv" / "app" / "uploads"
    folder.mkdir(parents=True)
    monkeypatch.setenv("UPLOAD_DIR", str(folder))
    return folder


@pytest.fixture
def api(learner, uploads, serve, dramatiq_worker):
    # `uploads` first: its UPLOAD_DIR then stays set until the worker has stopped.
    learner.broker.flush_all()  # no message left over from another test
    served = serve(learner.app)
    served.worker = dramatiq_worker(learner.broker)
    return served


def picture(kind: str, size: tuple[int, int] = (300, 200)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 120, 40)).save(buffer, format=kind)
    return buffer.getvalue()


def upload(api, filename: str, data: bytes, what: str) -> httpx.Response:
    try:
        response = api.client.post("/avatars", files={"file": (filename, data, "image/png")})
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
        f"A JPEG named me.png was stored as {jpeg}, a PNG named me.jpg as {png}: the"
        " extension must come from what Pillow detects, not from the client's filename."
    )


@pytest.mark.parametrize(
    ("filename", "data", "what"),
    [
        ("notes.png", b"root:x:0:0:root:/root:/bin/bash\n", "text named notes.png"),
        ("anim.png", picture("GIF"), "a GIF (not in ALLOWED)"),
        ("cut.png", picture("PNG")[:200], "a PNG cut short"),
    ],
)
def test_what_is_not_an_allowed_image_is_refused_with_415(api, uploads, filename, data, what):
    response = upload(api, filename, data, what)
    assert response.status_code == 415, (
        f"Uploading {what} answered {response.status_code} instead of 415 (Unsupported Media"
        " Type): only the image types in ALLOWED may be stored, whatever the name says."
    )
    assert not files_in(uploads), f"Uploading {what} left {files_in(uploads)} in UPLOAD_DIR."


def test_a_file_over_max_bytes_is_refused_with_413(api, learner, uploads):
    side = 700  # random pixels do not compress: about 3 bytes a pixel
    noise = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    buffer = io.BytesIO()
    noise.save(buffer, format="PNG")
    data = buffer.getvalue()
    assert len(data) > learner.MAX_BYTES
    response = upload(api, "big.png", data, f"a {len(data):,}-byte PNG")
    assert response.status_code == 413, (
        f"A {len(data):,}-byte PNG (MAX_BYTES is {learner.MAX_BYTES:,}) answered"
        f" {response.status_code} instead of 413 (Content Too Large)."
    )
    assert not files_in(uploads), f"The too-large upload left {files_in(uploads)} in UPLOAD_DIR."
