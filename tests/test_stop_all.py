"""wb.stop_all() reports what it stopped, in stop order, and names a stop that failed."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

import workbook as wb
from app_snippets.ch00_setup import quickstart_celery
from workbook import _registry


class Stubborn:
    """A handle whose stop fails: stop_all must go on and say so."""

    kind = "server"

    def stop(self) -> None:
        raise RuntimeError("port still held")

    def __repr__(self) -> str:
        return "<stubborn server at http://127.0.0.1:1>"


def test_the_report_names_each_thing_stopped_workers_first(redis_server):
    wb.stop_all()
    redis = wb.start_redis()
    api = wb.serve("app_snippets.ch00_setup.slow_report:app", process=True)
    wb.celery_worker(quickstart_celery.celery_app)
    report = wb.stop_all()
    assert len(report) == 3, report
    worker, server, last = report
    assert worker == "celery thread worker 'quickstart'"
    assert server == f"ProcessServer app_snippets.ch00_setup.slow_report:app at {api.url}"
    url = urlsplit(redis.url)
    assert last == f"Redis redis://127.0.0.1:{url.port}/0 from {redis.source} pid {redis.pid}"
    assert url.password and url.password not in repr(report)
    assert "running" not in repr(report) and not api.alive() and not redis.alive()
    assert repr(report).splitlines()[0] == "Stopped 3:"
    assert repr(report).splitlines()[1:] == [f"  {line}" for line in report]
    assert wb.stop_all() == [] and repr(wb.stop_all()).startswith("Nothing was running")


def test_a_process_that_had_died_already_says_so(redis_server):
    api = wb.serve("app_snippets.ch00_setup.slow_report:app", process=True)
    api.kill()
    report = wb.stop_all()
    assert report[0] == f"ProcessServer {api.name} at {api.url} (had already stopped)"
    assert not report[1].endswith("(had already stopped)"), report  # Redis was up


def test_a_failed_stop_is_named_and_the_rest_still_stop(redis_server):
    _registry.put("stubborn", Stubborn())
    with pytest.raises(wb.WorkbookError) as error:
        wb.stop_all()
    report = error.value.stopped
    failure = "stubborn server at http://127.0.0.1:1 (stop failed: RuntimeError: port still held)"
    assert failure in report
    assert failure in str(error.value) and "1 of 2 did not stop" in str(error.value)
    assert not redis_server.alive()
    assert wb.stop_all() == []


def test_every_failure_is_named_after_everything_else_stopped(redis_server):
    api = wb.serve("app_snippets.ch00_setup.slow_report:app", process=True)
    for name in ("one", "two"):
        _registry.put(f"stubborn {name}", Stubborn())
    with pytest.raises(wb.WorkbookError) as error:
        wb.stop_all()
    message = str(error.value)
    assert message.count("(stop failed: RuntimeError: port still held)") == 2, message
    assert "2 of 4 did not stop" in message and "Fix:" in message
    assert not api.alive() and not redis_server.alive()
    assert len(error.value.stopped) == 4 and wb.stop_all() == []


def test_a_notebook_shows_the_report_as_the_cells_result():
    from IPython.lib.pretty import pretty

    report = _registry.Stopped(["rq thread worker w1 on ['default']", "Redis redis://x:1/0"])
    assert pretty(report) == (
        "Stopped 2:\n  rq thread worker w1 on ['default']\n  Redis redis://x:1/0"
    )


@pytest.fixture(autouse=True)
def _redis_again_afterwards():
    yield
    wb.start_redis()  # the session's Redis, for the modules after this one
