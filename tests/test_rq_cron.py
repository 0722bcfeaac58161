"""wb.rq_cron: `rq cron CONFIG` as a child process, ready when it has registered, replaced
when started again, and an error that names the cause when the config does not import."""

from __future__ import annotations

import time

import pytest
from redis import Redis
from rq import Queue

import workbook as wb
from app_snippets.ch03_rq import rq_cron_config


def test_rq_cron_enqueues_and_is_replaced_on_restart(redis_server):
    connection = Redis.from_url(redis_server.url)
    queue = Queue(rq_cron_config.QUEUE, connection=connection)
    queue.empty()
    first = wb.rq_cron("app_snippets.ch03_rq.rq_cron_config")
    assert first.alive() and "rq.cli" in first.argv and "cron" in first.argv
    deadline = time.monotonic() + 10
    while queue.count < 1:
        assert time.monotonic() < deadline, f"no cron job was enqueued\n{first.logs()}"
        time.sleep(0.05)
    second = wb.rq_cron("app_snippets.ch03_rq.rq_cron_config")
    assert not first.alive() and second.alive()
    assert "Registered 'app_snippets.ch03_rq.rq_tasks.sleep_for'" in second.logs()
    second.stop()
    assert not second.alive()


def test_rq_cron_with_a_missing_config_names_the_cause(redis_server):
    with pytest.raises(wb.WorkbookError, match="could not import"):
        wb.rq_cron("app_snippets.no_such_cron_config")
