"""wb.wait_for and wb.timed: the one poller and the one timer of the notebooks and the tests."""

from __future__ import annotations

import time

import pytest

import workbook as wb
from workbook._waiting import WaitTimeout


def test_returns_the_first_truthy_value() -> None:
    values = iter([None, 0, "", "ready", "later"])
    assert wb.wait_for(lambda: next(values), 1) == "ready"


def test_gives_up_at_the_limit_naming_what_it_waited_for() -> None:
    started = time.monotonic()
    with pytest.raises(WaitTimeout, match=r"for the report .*expected about 0.1 s"):
        wb.wait_for(lambda: False, 0.1, "the report", limit=0.2)
    assert time.monotonic() - started >= 0.2
    assert issubclass(WaitTimeout, TimeoutError)


def test_names_the_condition_without_a_desc() -> None:
    def queue_is_empty() -> bool:
        return False

    with pytest.raises(WaitTimeout, match="queue_is_empty"):
        wb.wait_for(queue_is_empty, 0.05, limit=0.05)


def test_timed_measures_the_call() -> None:
    assert 0.05 <= wb.timed(lambda: time.sleep(0.05)) < 5
