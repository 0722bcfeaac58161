"""The shell's shared warm check server (issue 12): `workbook check` typed in a shell forks
its test process from one pre-imported server that outlives the command, so a learner's
second check answers without a Python start-up, and keeps every guarantee of the kernel's
server (tests/test_checker_quick.py): a new server when the old one died, an end when idle,
no other user's connection, and the check's processes gone when the shell command is.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket as socket_module
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from kernels import wait_until_gone
from test_checker import FIXTURES, SOLUTION, VARIANTS, _fixture_metadata, copy_exercise

from workbook._exercises import shared_server
from workbook._exercises.check import check
from workbook._exercises.model import Verdict
from workbook._paths import ROOT

__all__ = ["_fixture_metadata"]  # test_checker's: the fixture exercises, a private progress file
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork and /proc")


@pytest.fixture
def servers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """A private temp folder (short: a socket's path has at most 107 bytes), so this test's
    servers are its own; every server still running in it is stopped after the test.
    Returns the folder of the sockets."""
    folder = Path(tempfile.mkdtemp(prefix="wb-", dir="/tmp"))
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.setattr(tempfile, "tempdir", None)  # gettempdir() reads TMPDIR again
    try:
        yield folder / f"workbook-{os.getuid()}"
    finally:
        left = running(folder)
        shared_server.stop_all(folder / f"workbook-{os.getuid()}")
        for pid in wait_until_gone(left, 10):
            psutil.Process(pid).kill()
        shutil.rmtree(folder, ignore_errors=True)


def running(folder: Path) -> set[int]:
    """The shared servers whose socket is in `folder` (not their forked supervisors)."""
    found = set()
    for proc in psutil.process_iter(["cmdline", "ppid"]):
        cmdline = proc.info["cmdline"] or []
        if "shared_server" in " ".join(cmdline) and any(str(folder) in a for a in cmdline):
            found.add(proc.pid)
    return {pid for pid in found if _parent(pid) not in found}


def _parent(pid: int) -> int:
    try:
        return psutil.Process(pid).ppid()
    except psutil.NoSuchProcess:
        return 0


def started(servers: Path) -> None:
    """Wait for the server the first check started in the background to listen."""
    deadline = time.monotonic() + 60
    while not listening(servers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert listening(servers), "no server listens a minute after a check"


def listening(servers: Path) -> bool:
    for path in servers.glob("check-*.sock"):
        sock = shared_server._connect(path)
        if sock is not None:
            sock.close()
            return True
    return False


def shell_check(*args: str) -> tuple[int, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "workbook", "check", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    return proc.returncode, proc.stdout + proc.stderr


def test_shell_checks_share_one_server_that_outlives_them(servers: Path) -> None:
    code, out = shell_check("ex01")  # the untouched stub in exercises/
    assert code == 3 and "not attempted" in out, out
    assert not running(servers), "a quick verdict (the untouched stub) started a server"
    code, out = shell_check("ex01", "--solution")  # fresh; starts the server
    assert code == 0 and "✔ ex01 correct" in out, out
    started(servers)
    first = running(servers)
    assert len(first) == 1, f"one server after the first check, not {first}"
    (pid,) = first
    assert _parent(pid) != os.getpid(), "the server must be nobody's child"
    command = subprocess.Popen(
        [sys.executable, "-m", "workbook", "check", "ex01", "--solution"],
        cwd=ROOT / "exercises",  # another folder: the same server
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    forked = set()
    while command.poll() is None:  # the check's supervisor, forked by the server
        forked |= {child.pid for child in psutil.Process(pid).children()}
        time.sleep(0.01)
    out = command.stdout.read()  # type: ignore[union-attr]
    assert command.returncode == 0 and "✔ ex01 correct" in out, out
    assert forked, "the second shell check did not run in the server"
    assert running(servers) == first, "the second shell check started another server"
    socket = next(servers.glob("check-*.sock"))
    assert socket.stat().st_mode & 0o777 == 0o600, oct(socket.stat().st_mode)


def test_a_shared_check_is_warm_and_a_dead_server_is_replaced(servers: Path) -> None:
    solutions = FIXTURES / "solutions"
    first = check("ex01", tree=solutions, quick=True, shared=True)
    assert first.verdict is Verdict.CORRECT and not first.warm, "no server yet: a fresh check"
    started(servers)
    warm = check("ex01", tree=solutions, quick=True, shared=True)
    assert warm.verdict is Verdict.CORRECT and warm.warm, warm
    (pid,) = running(servers)
    psutil.Process(pid).kill()
    assert not wait_until_gone({pid}, 10)
    again = check("ex01", tree=VARIANTS / "fails", quick=True, shared=True)
    assert again.verdict is Verdict.INCORRECT and not again.warm, again  # a dead one's socket
    started(servers)
    again = check("ex01", tree=VARIANTS / "fails", quick=True, shared=True)
    assert again.verdict is Verdict.INCORRECT and again.warm, again
    assert again.message == "add(2, 3) should be 5.", again
    assert running(servers) - {pid}, "no new server after the old one was killed"


def test_the_server_ends_when_idle(servers: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(shared_server.IDLE_ENV, "1")
    check("ex01", tree=FIXTURES / "solutions", quick=True, shared=True)
    started(servers)
    # A connected client keeps it from idling out: hold one while looking for its process,
    # which on a busy machine takes longer than the 1 s it may idle (a clean-clone run found
    # it gone before the look ended: "no server").
    holder = next(filter(None, map(shared_server._connect, servers.glob("check-*.sock"))), None)
    assert holder is not None, "no server"
    try:
        pids = running(servers)
    finally:
        holder.close()
    assert pids, "no server"
    assert not wait_until_gone(pids, 15), "the server did not end once idle"
    assert not list(servers.glob("check-*.sock")), "the idle server left its socket"


CLIENT = """
import sys
from workbook._exercises.check import check
print("checking", flush=True)
check("ex01", tree=sys.argv[1], metadata=sys.argv[2], quick=True, shared=True)
"""


def test_the_checks_processes_end_with_the_shell_command(servers: Path, tmp_path: Path) -> None:
    toml = copy_exercise(tmp_path, SOLUTION, timeout=120)
    check("ex01", tree=FIXTURES / "solutions", quick=True, shared=True)
    started(servers)
    client = subprocess.Popen(
        [sys.executable, "-c", CLIENT, str(VARIANTS / "endless_loop"), str(toml)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert client.stdout.readline().strip() == "checking"  # type: ignore[union-attr]
        server, below = 0, set()
        deadline = time.monotonic() + 30
        while not below and time.monotonic() < deadline:
            time.sleep(0.05)
            for server in running(servers):
                with contextlib.suppress(psutil.NoSuchProcess):
                    below = {p.pid for p in psutil.Process(server).children(recursive=True)}
                if below:
                    break
        assert below, "the check never started in a shared server"
        time.sleep(0.5)  # into the endless loop
        below |= {p.pid for p in psutil.Process(server).children(recursive=True)}
        client.send_signal(signal.SIGKILL)  # a closed terminal: no clean-up of its own
        client.wait(10)
        assert not wait_until_gone(below, 15), "the check outlived its shell command"
        assert psutil.Process(server).is_running(), "the server ended with one client"
    finally:
        client.kill()
        client.wait()


FOREIGN = """
import socket, sys
sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
sock.settimeout(10)
sock.connect(sys.argv[1])
print(repr(sock.recv(4096)))
"""


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to act as another user")
def test_another_users_connection_is_refused(servers: Path) -> None:
    check("ex01", tree=FIXTURES / "solutions", quick=True, shared=True)
    started(servers)
    socket = next(servers.glob("check-*.sock"))
    socket.chmod(0o666)  # past the file's permissions: the server itself must refuse
    servers.chmod(0o755)
    servers.parent.chmod(0o755)
    proc = subprocess.run(
        [sys.executable, "-c", FOREIGN, str(socket)],
        capture_output=True,
        text=True,
        timeout=30,
        user=65534,
        cwd="/",
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "b''", f"another user got {proc.stdout!r}"


def test_a_changed_workbook_file_or_lock_names_another_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, servers: Path
) -> None:
    (tmp_path / "workbook").mkdir()
    module = tmp_path / "workbook" / "x.py"
    module.write_text("A = 1\n")
    (tmp_path / "requirements.lock").write_text("a==1\n")
    monkeypatch.setattr(shared_server, "ROOT", tmp_path)
    env = {"PYTHONPATH": "/a"}
    before = shared_server.socket_path(env)
    assert shared_server.socket_path(env) == before, "the name is not stable"
    module.write_text("A = 22\n")
    after_edit = shared_server.socket_path(env)
    (tmp_path / "requirements.lock").write_text("a==2\n")
    after_lock = shared_server.socket_path(env)
    other_path = shared_server.socket_path({"PYTHONPATH": "/b"})
    assert len({before, after_edit, after_lock, other_path}) == 4
    assert before is not None and before.parent == servers


def test_checks_while_a_server_starts_run_fresh_and_start_no_second_one(servers: Path) -> None:
    from workbook._exercises.run import _server_environment

    env = _server_environment()
    assert [shared_server.get(env) for _ in range(3)] == [None, None, None]
    started(servers)
    assert len(running(servers)) == 1, running(servers)
    client = shared_server.get(env)
    assert client is not None, "no connection once the server listens"
    client.stop()


PROBE = """
import json, os, socket
from pathlib import Path


def _probe() -> None:
    fds = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            fds[fd] = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            pass
    status = Path("/proc/self/status").read_text().splitlines()
    umask = next(line.split()[1] for line in status if line.startswith("Umask:"))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    sock.settimeout(5)
    try:
        sock.connect(os.environ["FIXTURE_SERVER_SOCKET"])
        said = repr(sock.recv(4096))
    except OSError as error:
        said = repr(error)
    seen = {"fds": fds, "umask": umask, "said": said}
    Path(os.environ["FIXTURE_PROBE_FILE"]).write_text(json.dumps(seen))


_probe()


def add(a: int, b: int) -> int:
    return a + b
"""


def test_a_checks_code_holds_no_socket_gets_the_shells_umask_and_cannot_use_the_server(
    servers: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    check("ex01", tree=FIXTURES / "solutions", quick=True, shared=True)
    started(servers)
    (socket_file,) = servers.glob("check-*.sock")
    probe = tmp_path / "probe.json"
    monkeypatch.setenv("FIXTURE_PROBE_FILE", str(probe))
    monkeypatch.setenv("FIXTURE_SERVER_SOCKET", str(socket_file))
    toml = copy_exercise(tmp_path, PROBE)
    before = os.umask(0o077)  # this shell's, not the one that started the server
    try:
        result = check("ex01", metadata=toml, quick=True, shared=True)
    finally:
        os.umask(before)
    assert result.verdict is Verdict.CORRECT and result.warm, result
    seen = json.loads(probe.read_text())
    sockets = {fd: target for fd, target in seen["fds"].items() if target.startswith("socket:")}
    assert not sockets, f"the check's code inherited sockets: {sockets}"
    assert seen["umask"] == "0077", seen["umask"]
    assert seen["said"] == "b''", (
        f"a check's own code got an answer from the server: {seen['said']}"
    )


def test_another_uid_is_refused_without_root(
    servers: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = servers / "unit.sock"
    servers.mkdir(parents=True, exist_ok=True)
    listener = socket_module.socket(socket_module.AF_UNIX, socket_module.SOCK_SEQPACKET)
    listener.bind(str(path))
    listener.listen(1)
    clients: list = []
    # The client is this process, not below a server: only the uid decides here.
    monkeypatch.setattr(shared_server, "_ancestors", lambda pid: set())
    with listener:
        mine = shared_server._connect(path)
        assert mine is not None
        shared_server._accept(listener, clients)
        assert len(clients) == 1 and json.loads(mine.recv(4096))["ready"], "this user refused"
        monkeypatch.setattr(shared_server.os, "getuid", lambda: os.geteuid() + 4242)
        theirs = shared_server._connect(path)
        assert theirs is not None
        shared_server._accept(listener, clients)
        theirs.settimeout(5)
        assert theirs.recv(4096) == b"" and len(clients) == 1, "another uid was answered"
        for sock in (mine, theirs, *clients):
            sock.close()


def test_the_private_folder_is_made_private_and_a_symlink_refused(
    servers: Path, tmp_path: Path
) -> None:
    servers.mkdir(mode=0o775, exist_ok=True)
    servers.chmod(0o775)  # as umask 002 leaves a folder
    assert shared_server._private_folder() == servers
    assert servers.stat().st_mode & 0o777 == 0o700
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    shutil.rmtree(servers)
    servers.symlink_to(elsewhere)
    assert shared_server._private_folder() is None, "a symlinked folder was used"
    servers.unlink()
