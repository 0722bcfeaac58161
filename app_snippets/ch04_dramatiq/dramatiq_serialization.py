"""Message arguments travel as JSON: what survives the trip, and a message shape that does.

Dramatiq encodes every message with JSON. A tuple arrives as a list; a datetime, a set,
bytes, a Decimal or a UUID cannot be encoded, and `.send()` raises TypeError. The fix:
one pydantic model per message, sent as JSON-ready data and validated in the actor.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Literal

import dramatiq
from pydantic import AwareDatetime, BaseModel, ValidationError

from app_snippets.ch04_dramatiq.dramatiq_broker import broker

QUEUE = "serialization"


# The naive actor: it reports the types its arguments arrived as.
@dramatiq.actor(broker=broker, queue_name=QUEUE, store_results=True, max_retries=0)
def schedule_reminder(user_id: int, remind_at: Any, channels: Any) -> dict[str, str]:
    return {"remind_at": type(remind_at).__name__, "channels": type(channels).__name__}


class Reminder(BaseModel):
    """The message's shape: the one place that says what a reminder carries."""

    user_id: int
    remind_at: AwareDatetime  # a datetime with a time zone
    channels: tuple[Literal["email", "sms", "push"], ...]


def send_reminder(reminder: Reminder) -> dramatiq.Message:
    """Send a Reminder as JSON-ready data (datetime -> ISO string, tuple -> list)."""
    return schedule_reminder_checked.send(reminder.model_dump(mode="json"))


# ValidationError is in `throws`: a malformed message fails at once, with no retries.
@dramatiq.actor(
    broker=broker,
    queue_name=QUEUE,
    store_results=True,
    max_retries=3,
    throws=(ValidationError,),
)
def schedule_reminder_checked(payload: dict[str, Any]) -> dict[str, str]:
    reminder = Reminder.model_validate(payload)  # back to datetime and tuple, or an error
    due_in = reminder.remind_at - datetime.now(timezone.utc)
    return {
        "remind_at": type(reminder.remind_at).__name__,
        "channels": type(reminder.channels).__name__,
        "due_in_days": f"{due_in.total_seconds() / 86400:.1f}",
    }
