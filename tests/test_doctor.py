"""The doctor: every check passes here, and a failing check names its fix and fails the run."""

from __future__ import annotations

import json
import subprocess
import sys

from workbook import _doctor


def test_doctor_passes_on_this_machine():
    done = subprocess.run(
        [sys.executable, "-m", "workbook", "doctor", "--json"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    rows = json.loads(done.stdout.strip().splitlines()[-1])
    names = [row["name"] for row in rows]
    assert names == ["python", "platform", "locked versions", "jupyter kernel", "served app",
                     "redis", "celery", "rq", "dramatiq"]  # fmt: skip
    failed = [row for row in rows if not row["ok"]]
    assert not failed, failed
    assert done.returncode == 0
    print("doctor took", round(sum(row["seconds"] for row in rows), 2), "s")


def test_a_version_mismatch_fails_with_the_fix(monkeypatch, capsys):
    monkeypatch.setattr(_doctor, "locked_versions", lambda: {"fastapi": "0.0.1"})
    assert _doctor.run_cli() == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "fastapi" in out and "make install" in out


def test_a_dead_redis_url_of_the_users_fails_with_the_fix(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    checks = {c.name: c for c in _doctor.run_checks()}
    assert not checks["your REDIS_URL"].ok
    assert "unset REDIS_URL" in checks["your REDIS_URL"].fix


def test_redis_that_cannot_start_is_a_failed_row_not_a_crash(monkeypatch, capsys):
    def broken():
        raise FileNotFoundError("valkey-server")

    monkeypatch.setattr("workbook._redis.find_server_binary", broken)
    checks = _doctor.run_checks()
    redis_row = next(c for c in checks if c.name == "redis")
    assert not redis_row.ok and "REDIS_URL" in redis_row.fix


def test_quick_checks_show_milliseconds_not_zero_seconds(capsys):
    assert [_doctor.duration(s) for s in (0.0001, 0.0312, 0.9994, 1.0, 1.63)] == [
        "<1 ms", "31 ms", "999 ms", "1.0 s", "1.6 s",
    ]  # fmt: skip
    _doctor._print([_doctor.Check("dramatiq", True, "add(2, 3) -> 5", seconds=0.038)])
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("dram"))
    assert row.endswith("38 ms") and "0.0 s" not in row
