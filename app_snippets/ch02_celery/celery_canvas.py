"""A video workflow (upload, convert, notify) as a chain, a group and a chord.

Each task takes a little time and returns what the next one needs, so the canvas can pass
results along: a chain feeds each result into the next task; a group runs tasks side by
side; a chord runs a group, then one callback with the list of all their results.
"""

from __future__ import annotations

import time

from celery import Celery, chain, chord, group

from app_snippets.settings import redis_url, seconds

celery_app = Celery("celery_canvas", broker=redis_url(), backend=redis_url())
celery_app.conf.update(task_default_queue="canvas")


@celery_app.task
def upload(filename: str) -> str:
    time.sleep(seconds(1))  # store the file
    return f"uploads/{filename}"


@celery_app.task
def convert(path: str, fmt: str = "mp4") -> str:
    time.sleep(seconds(1))  # transcode it
    return f"{path.rsplit('.', 1)[0]}.{fmt}"


@celery_app.task
def notify(paths: str | list[str], email: str) -> str:
    paths = [paths] if isinstance(paths, str) else paths
    return f"told {email}: {', '.join(paths)} ready"


@celery_app.task
def convert_and_wait(path: str) -> str:
    """The anti-pattern canvas replaces: a task that waits for another task's result."""
    return convert.delay(path).get(timeout=10)


def one_video(filename: str, email: str) -> chain:
    """upload, then convert what was uploaded, then notify: each step gets the last result."""
    return chain(upload.s(filename), convert.s(), notify.s(email))


def all_formats(path: str) -> group:
    """One upload, converted to three formats at the same time."""
    return group(convert.s(path, fmt) for fmt in ("mp4", "webm", "gif"))


def all_formats_then_notify(path: str, email: str) -> chord:
    """The group, then a single notification once every format is ready."""
    return chord(all_formats(path), notify.s(email))
