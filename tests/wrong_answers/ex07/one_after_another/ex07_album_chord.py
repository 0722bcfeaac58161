"""Exercise 07: a chord workflow.

Publishing a photo album takes two steps: resize every photo (independent jobs, each
`seconds(1)`), then publish the album once, with the list of all the thumbnails. Write
publish() so that the resizes run at the same time and publish_album runs once, after the
last of them, without publish() itself waiting for anything (notebook 02, section 8).

Check your work: `wb.exercise("ex07").check()` in the notebook, or
`python -m workbook check ex07` in a terminal.
"""

from __future__ import annotations

import time

from celery import Celery, chain
from celery.result import AsyncResult
from redis import Redis

from app_snippets.settings import redis_url, seconds

celery_app = Celery("ex07", broker=redis_url(), backend=redis_url())
celery_app.conf.update(task_default_queue="ex07")


def record(event: str, value: object) -> None:
    with Redis.from_url(redis_url()) as store:
        store.rpush(f"ex07:{event}", f"{time.time()} {value}")


@celery_app.task
def resize(photo_id: int) -> str:
    record("resize_started", photo_id)
    time.sleep(seconds(1))  # the image work
    record("resize_ended", photo_id)
    return f"thumbs/{photo_id}.jpg"


@celery_app.task
def publish_album(thumbnails: list[str], album_id: str) -> dict[str, object]:
    record("published", album_id)
    return {"album": album_id, "thumbnails": thumbnails}


def publish(album_id: str, photo_ids: list[int]) -> AsyncResult:
    """Resize every photo in parallel, then publish the album once with all the thumbnails.

    Returns at once, with the AsyncResult whose .get() is publish_album's return value.
    """
    # Changed: a chord. The header, a group of resize signatures (one per photo), is sent at
    # once; the result backend counts their results, and when the last one is in, the
    # callback runs with the list of them, in the header's order, as its first argument.
    # Wrong: a chain runs the resizes one after another (and passes on only the last one).
    resizes = chain(resize.si(photo_id) for photo_id in photo_ids)
    return (resizes | publish_album.s(album_id)).delay()
