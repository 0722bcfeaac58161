"""The watchdog kills what the kernel started, and never a stranger that got a reused pid."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from kernels import living

import workbook._watchdog as watchdog_module
from workbook._procs import ChildProcess

NS_LAST_PID = Path("/proc/sys/kernel/ns_last_pid")
WATCHDOG = [sys.executable, "-I", watchdog_module.__file__]


def _start_with_pid(pid: int, argv: list[str]) -> subprocess.Popen | None:
    """Start argv as process `pid` (pid reuse, forced: Linux hands out ns_last_pid + 1)."""
    for _ in range(50):
        try:
            NS_LAST_PID.write_text(str(pid - 1))
        except OSError:
            return None
        process = subprocess.Popen(argv, start_new_session=True)
        if process.pid == pid:
            return process
        process.kill()
        process.wait()
    return None


FORCES_PIDS = pytest.mark.skipif(
    not NS_LAST_PID.exists() or not os.access(NS_LAST_PID, os.W_OK),
    reason="forcing a pid needs Linux and write access to ns_last_pid (root)",
)


@FORCES_PIDS
def test_a_stale_group_id_reused_by_a_stranger_is_spared(tmp_path: Path) -> None:
    watchdog = subprocess.Popen([*WATCHDOG, str(tmp_path / "run")], stdin=subprocess.PIPE)
    child = subprocess.Popen(["sleep", "2"], start_new_session=True)
    assert watchdog.stdin is not None
    watchdog.stdin.write(f"+{child.pid}\n".encode())  # as the kernel does for every child
    watchdog.stdin.flush()
    child.wait()  # it died unseen by the watchdog (as a crash demo's SIGKILL does)
    stranger = _start_with_pid(child.pid, ["sleep", "306"])  # another kernel's, say
    if stranger is None:
        pytest.skip("could not get the same pid again on this busy machine")
    try:
        watchdog.stdin.close()  # the kernel goes
        watchdog.wait(30)
        assert living({stranger.pid}) == {stranger.pid}, (
            "the watchdog killed a process that only shares a dead child's pid"
        )
    finally:
        stranger.kill()
        stranger.wait()


def test_a_registered_child_goes_with_the_kernel(tmp_path: Path) -> None:
    watchdog = subprocess.Popen([*WATCHDOG, str(tmp_path / "run")], stdin=subprocess.PIPE)
    child = subprocess.Popen(["sleep", "307"], start_new_session=True)
    try:
        assert watchdog.stdin is not None
        watchdog.stdin.write(f"+{child.pid}\n".encode())
        watchdog.stdin.close()
        watchdog.wait(30)
        assert child.wait(10) is not None  # killed
    finally:
        child.kill()
        child.wait()


@FORCES_PIDS
def test_stopping_a_child_killed_earlier_spares_the_stranger_on_its_pid() -> None:
    child = ChildProcess("killed-in-a-demo", ["sleep", "308"])
    child.start()
    os.kill(child.pid, 9)  # as notebook 03 does: os.kill(crash_worker.pid, signal.SIGKILL)
    while child.alive():  # alive() reaps it: from now on its pid is free
        pass
    stranger = _start_with_pid(child.pid, ["sleep", "309"])
    if stranger is None:
        pytest.skip("could not get the same pid again on this busy machine")
    try:
        child.stop(timeout=1)  # what stop_all() does at the end of the notebook
        assert living({stranger.pid}) == {stranger.pid}, "stop() killed a stranger's process"
    finally:
        stranger.kill()
        stranger.wait()
