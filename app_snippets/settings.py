"""Settings for every snippet, read from the environment, as a production app would.

The workbook sets REDIS_URL when it starts Redis; outside the workbook, set it yourself.
DEMO_TIME_SCALE shortens the demos' sleeps under test (1.0 = the real pacing).
"""

from __future__ import annotations

import os


def redis_url() -> str:
    """The Redis every queue uses as broker and result store."""
    return os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def time_scale() -> float:
    """Multiply every demo sleep by this; tests run with a small value."""
    return float(os.environ.get("DEMO_TIME_SCALE", "1.0"))


def seconds(duration: float) -> float:
    """A demo duration, scaled: `time.sleep(seconds(2))` sleeps 2 s for a learner."""
    return duration * time_scale()
