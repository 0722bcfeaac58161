"""Shared fixtures: fast demo pacing, a Redis for the session, nothing left running."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("DEMO_TIME_SCALE", "0.1")  # demos sleep a tenth as long under test
os.environ.setdefault("JUPYTER_PREFER_ENV_PATH", "1")  # the .venv kernel, not a user one
os.environ.pop("REDIS_URL", None)  # tests start their own Redis; a user's must not leak in
os.environ.pop("WORKBOOK_REDIS_URL", None)

import workbook as wb

# Teaching modules read REDIS_URL when imported, as production code does, and test modules
# import them at collection: so the session's Redis starts first. It keeps its address
# for the whole session, even across stop_all().
wb.start_redis()


@pytest.fixture
def redis_server():
    """The workbook's Redis, started (or reused) for this test."""
    return wb.start_redis()


@pytest.fixture(autouse=True, scope="module")
def _stop_everything_after_each_module():
    yield
    wb.stop_all()
