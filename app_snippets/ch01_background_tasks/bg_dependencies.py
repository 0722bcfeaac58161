"""A database session from a `yield` dependency, handed to a background task.

`Session` stands in for a database session (SQLAlchemy's has the same shape), and each open
session holds one connection from a small pool. The dependency opens a session per request
and closes it when FastAPI runs its exit code; *when* that happens depends on the scope.
The last endpoint is the fix: the task opens its own session, for as long as it needs it.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Annotated

from fastapi import BackgroundTasks, Depends, FastAPI

from app_snippets.settings import seconds

app = FastAPI(title="Orders")
ROWS: list[str] = []  # what the "database" holds
_open_sessions = 0  # connections checked out of the pool
_lock = threading.Lock()
CARRIER_SECONDS = max(seconds(2), 0.5)  # 2 s; at least 0.5 s on a fast demo clock


class SessionClosedError(RuntimeError):
    """A closed session was used."""


class Session:
    """A stand-in for a database session: `add`, `commit`, `close`, usable with `with`."""

    def __init__(self) -> None:
        global _open_sessions
        with _lock:
            _open_sessions += 1
        self.closed = False
        self._pending: list[str] = []

    def add(self, row: str) -> None:
        self._check_open()
        self._pending.append(row)

    def commit(self) -> None:
        self._check_open()
        ROWS.extend(self._pending)
        self._pending.clear()

    def close(self) -> None:
        global _open_sessions
        if not self.closed:
            self.closed = True
            with _lock:
                _open_sessions -= 1

    def _check_open(self) -> None:
        if self.closed:
            raise SessionClosedError("This session is closed; open a new one.")

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def get_session() -> Iterator[Session]:
    session = Session()
    try:
        yield session
    finally:
        session.close()


RequestSession = Annotated[Session, Depends(get_session)]  # closed after background tasks
FunctionSession = Annotated[Session, Depends(get_session, scope="function")]  # closed at return


def save_tracking_number(session: Session, order_id: str) -> None:
    time.sleep(CARRIER_SECONDS)  # the slow part: ask the carrier for a tracking number
    session.add(f"order {order_id}: tracking number")
    session.commit()


def save_tracking_number_own_session(order_id: str) -> None:
    time.sleep(CARRIER_SECONDS)  # the slow part, with no connection held
    with Session() as session:  # the task opens its own session, only for the write
        session.add(f"order {order_id}: tracking number")
        session.commit()


def place_order(session: Session) -> str:
    order_id = uuid.uuid4().hex[:8]
    session.add(f"order {order_id}: placed")
    session.commit()
    return order_id


@app.post("/orders/request-scope")
def order_with_request_session(
    session: RequestSession, background_tasks: BackgroundTasks
) -> dict[str, str]:
    order_id = place_order(session)
    background_tasks.add_task(save_tracking_number, session, order_id)  # works, holds the session
    return {"order": order_id}


@app.post("/orders/function-scope")
def order_with_function_session(
    session: FunctionSession, background_tasks: BackgroundTasks
) -> dict[str, str]:
    order_id = place_order(session)
    background_tasks.add_task(save_tracking_number, session, order_id)  # closed by then: fails
    return {"order": order_id}


@app.post("/orders")
def order(session: FunctionSession, background_tasks: BackgroundTasks) -> dict[str, str]:
    order_id = place_order(session)
    background_tasks.add_task(save_tracking_number_own_session, order_id)  # the fix
    return {"order": order_id}


@app.get("/orders/{order_id}/rows")
def rows_of(order_id: str) -> list[str]:
    return [row for row in ROWS if row.startswith(f"order {order_id}:")]


@app.get("/sessions/open")
def open_sessions() -> int:
    return _open_sessions
