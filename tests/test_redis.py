"""start_redis(): a real server, reused, restarted when it died, and errors that speak."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import pytest
import redis

import workbook as wb
from workbook._net import free_port
from workbook._redis import launch


def test_start_gives_a_private_loopback_server(redis_server):
    assert os.environ["REDIS_URL"] == redis_server.url
    assert redis_server.url.startswith("redis://:") and "@127.0.0.1:" in redis_server.url
    client = redis_server.client()
    assert client.ping()
    assert client.config_get("bind")["bind"] == "127.0.0.1"
    assert client.config_get("save")["save"] == ""
    assert client.config_get("appendonly")["appendonly"] == "no"
    password = redis_server.url.split(":")[2].split("@")[0]
    assert len(password) >= 16
    with pytest.raises(redis.AuthenticationError):  # no password, no access
        redis.Redis(port=int(redis_server.url.rsplit(":", 1)[1].split("/")[0])).ping()


def test_client_selects_a_database_through_the_url(redis_server):
    redis_server.client(db=3).set("where", "db3")
    assert redis_server.client(db=3).get("where") == "db3"
    assert redis_server.client().get("where") is None
    assert redis_server.url_for(3).endswith("/3")


def test_second_call_returns_the_running_server(redis_server):
    again = wb.start_redis()
    assert again is redis_server
    assert again.pid == redis_server.pid


def test_dead_server_is_restarted_at_the_same_url(redis_server, capsys):
    redis_server.process.kill()
    assert not redis_server.alive()
    fresh = wb.start_redis()
    assert "had stopped" in capsys.readouterr().out
    assert fresh.url == redis_server.url and fresh.pid != redis_server.pid
    assert fresh.client().ping()


def test_dead_redis_gives_an_error_naming_it_within_5_seconds(redis_server):
    redis_server.process.kill()
    started = time.monotonic()
    with pytest.raises(wb.WorkbookError) as error:
        wb.rq_worker(["default"])
    assert time.monotonic() - started < 5
    assert "does not answer" in str(error.value)
    assert "wb.start_redis()" in str(error.value)
    wb.start_redis()  # leave a live one for the next test


def test_an_app_imported_before_start_redis_is_named_as_the_cause(redis_server):
    from celery import Celery

    too_early = Celery("too_early", broker=f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(wb.WorkbookError) as error:
        wb.celery_worker(too_early)
    assert "imported before wb.start_redis()" in str(error.value)
    assert "restart the kernel" in str(error.value)


def test_a_users_redis_url_is_used_and_nothing_started(monkeypatch):
    other = launch(free_port(), "users-own-password-123")
    try:
        monkeypatch.setenv("REDIS_URL", other.url)
        handle = wb.start_redis()
        assert handle.url == other.url and handle.process is None
        assert handle.client().ping()
    finally:
        other.process.stop()


def test_a_users_dead_redis_url_is_named_with_the_fix(monkeypatch):
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(wb.WorkbookError) as error:
        wb.start_redis()
    assert "does not answer" in str(error.value)
    assert "unset REDIS_URL" in str(error.value)


def test_stop_removes_the_url_and_the_process(redis_server):
    pid = redis_server.pid
    redis_server.stop()
    assert "REDIS_URL" not in os.environ
    assert subprocess.run(["kill", "-0", str(pid)], capture_output=True).returncode != 0


def test_a_taken_port_moves_redis_and_says_what_to_do(redis_server, capsys):
    from workbook import _redis

    address = _redis._last_address
    redis_server.stop()
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        squatter.bind(("127.0.0.1", address[0]))
        squatter.listen()
        moved = wb.start_redis()
        assert "is taken now" in capsys.readouterr().out
        assert moved.url != redis_server.url and moved.client().ping()
        moved.stop()
    finally:
        squatter.close()
        _redis._last_address = address  # later modules hold the session's first URL
    assert wb.start_redis().url == redis_server.url


def test_server_ports_avoid_the_ephemeral_range():
    ports = {free_port() for _ in range(20)}
    assert all(20000 <= port < 32000 for port in ports), ports


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_no_child_shows_the_redis_password_on_its_command_line(redis_server):
    """Every user of the machine can read /proc/<pid>/cmdline (and `ps` shows it)."""
    password = urlsplit(redis_server.url).password
    assert password
    started = [
        wb.rq_worker(["default"], process=True),
        wb.rq_cron("app_snippets.ch03_rq.rq_cron_config"),
        wb.celery_worker("app_snippets.ch00_setup.quickstart_celery:celery_app", process=True),
        wb.dramatiq_worker("app_snippets.ch00_setup.quickstart_dramatiq", process=True),
        wb.serve("app_snippets.ch00_setup.slow_report:app", process=True),
        wb.flower("app_snippets.ch00_setup.quickstart_celery:celery_app"),
    ]
    children = psutil.Process().children(recursive=True)
    assert redis_server.pid in {c.pid for c in children} and len(children) >= 7
    shown = {}
    for child in children:
        with contextlib.suppress(psutil.Error):
            shown[child.pid] = Path(f"/proc/{child.pid}/cmdline").read_bytes()
    leaks = {
        pid: cmd.replace(b"\0", b" ")[:120]
        for pid, cmd in shown.items()
        if password.encode() in cmd
    }
    assert not leaks, f"the Redis password is on these command lines: {leaks}"
    for handle in started:
        handle.stop()


def test_a_demo_server_is_separate_and_takes_persistence_and_memory_settings(redis_server):
    demo = wb.start_redis(
        name="test demo",
        config={"appendonly": "yes", "appendfsync": "everysec", "maxmemory": "5mb"},
    )
    try:
        assert demo.url != redis_server.url and os.environ["REDIS_URL"] == redis_server.url
        client = demo.client()
        assert client.config_get("appendonly")["appendonly"] == "yes"
        assert client.config_get("maxmemory")["maxmemory"] == str(5 * 1024 * 1024)
        assert client.config_get("bind")["bind"] == "127.0.0.1"
        client.set("kept", "yes")  # written to the file before the reply: a kill keeps it
        demo.restart()  # SIGKILL, then the same port, password and folder
        assert demo.client().get("kept") == "yes", "appendonly should survive a crash"
        assert redis_server.client().get("kept") is None
    finally:
        demo.stop()
    assert redis_server.alive() and not demo.alive()


def test_a_demo_server_without_persistence_forgets_on_restart(redis_server):
    demo = wb.start_redis(name="test forget")
    try:
        demo.client().set("kept", "yes")
        demo.restart()
        assert demo.client().get("kept") is None
    finally:
        demo.stop()


def test_a_demo_server_refuses_settings_that_would_open_it():
    with pytest.raises(wb.WorkbookError, match="bind"):
        wb.start_redis(name="open", config={"bind": "0.0.0.0"})
    with pytest.raises(wb.WorkbookError, match="name"):
        wb.start_redis(config={"maxmemory": "1mb"})


def test_a_celery_get_after_the_workbook_restarts_redis_subscribes_afresh(redis_server):
    """Stopping the workbook's Redis closes this thread's Celery result listeners: the next
    .get() subscribes on a new connection. Left open, the dead one sends it through Celery's
    reconnect, which reads the result before it subscribes again and, on a busy machine,
    misses one stored in between (tools/celery_get_after_restart.py counts the misses)."""
    from celery.backends.redis import ResultConsumer

    from app_snippets.ch00_setup import quickstart_celery

    app, add = quickstart_celery.celery_app, quickstart_celery.add
    reconnects = []
    original = ResultConsumer._reconnect_pubsub
    ResultConsumer._reconnect_pubsub = lambda consumer: (reconnects.append(1), original(consumer))
    try:
        for _ in range(2):
            worker = wb.celery_worker(app)
            assert add.delay(2, 3).get(timeout=10) == 5
            worker.stop()
            assert app.backend.result_consumer._pubsub is not None  # the listener .get() used
            wb.start_redis().stop()
            assert app.backend.result_consumer._pubsub is None, "the stop closed the listener"
            assert not app.backend.result_consumer.subscribed_to
            wb.start_redis()
        assert reconnects == [], "a .get() after the restart went through Celery's reconnect"
    finally:
        ResultConsumer._reconnect_pubsub = original
