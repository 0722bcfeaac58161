"""The shell's warm check server: one per repository and Python, shared by every `workbook
check` typed in a shell, ended after some idle minutes.

A shell command is a new Python each time, so the kernel's server (check_server, which ends
with its kernel) would be started and thrown away with every check. This one outlives the
command: the first `workbook check` that needs tests starts it in the background and runs
fresh (waiting for its imports would take longer), and every later one connects to its Unix
socket and gets a forked test process at once. Its socket (0600) is in a folder only this
user may write in, it accepts only this user's connections (SO_PEERCRED), and its name holds
a fingerprint of the Python, the workbook package's files and the lock file: after a `git
pull` or a new .venv the next check starts a fresh server, and the old one ends once idle.
The forked test process is the kernel server's (check_server.supervise_in_child): same
session, time limit, clean-up and report.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import select
import socket
import struct
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any

from . import check_server

ROOT = check_server.ROOT
IDLE_ENV = "WORKBOOK_CHECK_SERVER_IDLE"  # seconds with no client before it ends
IDLE = 900.0


class Shared(check_server.Client):
    """A connection to the shared server (closing it leaves the server running). Each job
    carries this shell's umask: the server was started by another command."""

    def job(self, **fields: Any) -> dict[str, Any]:
        return {**fields, "umask": _umask()}


def _umask() -> int | None:
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    return None


def get(env: dict[str, str]) -> Shared | None:
    """A connection to this repository's shared server; None when none answers yet (the
    caller then starts a fresh process, as fast as waiting would be), after starting one in
    the background unless one is starting already."""
    env = _without_cwd(env)
    path = socket_path(env)
    if path is None:
        return None
    sock = _connect(path)
    if sock is None:
        _start(path, env)
        return None
    client = Shared(sock)
    if client.ready(5):
        return client
    client.stop()
    return None


def _without_cwd(env: dict[str, str]) -> dict[str, str]:
    """The server's import path: the repository and the user's PYTHONPATH, not the folder
    the shell is in (the test process gets its own path with each check), so checks from
    any folder share one server."""
    given = filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))
    return {**env, "PYTHONPATH": os.pathsep.join(dict.fromkeys([str(ROOT), *given]))}


def stop_all(folder: Path | None = None) -> int:
    """Ask every shared server of this repository (in `folder`, by default the private
    folder) to end; the number asked. Checks they are running go on to their verdicts."""
    folder = folder or _private_folder()
    asked = 0
    for path in sorted(folder.glob("check-*.sock")) if folder else []:
        sock = _connect(path)
        if sock is None:
            continue
        with sock, contextlib.suppress(OSError, ValueError):
            sock.settimeout(5)
            hello = json.loads(sock.recv(check_server.MESSAGE_LIMIT) or b"{}")
            if hello.get("root") == str(ROOT):
                sock.send(json.dumps({"quit": True}).encode())
                sock.recv(check_server.MESSAGE_LIMIT)  # end-of-file once it is gone
                asked += 1
    return asked


def socket_path(env: dict[str, str]) -> Path | None:
    """Where the server for this Python, repository, environment flags, workbook code,
    lock file and installed packages listens (None: no private folder, or a path too long)."""
    folder = _private_folder()
    if folder is None:
        return None
    digest = hashlib.sha256()
    flags = sorted(f"{k}={v}" for k, v in env.items() if k.startswith(("PYTHON", "VIRTUAL_ENV")))
    for part in (sys.executable, str(ROOT), *flags, code_fingerprint()):
        digest.update(part.encode() + b"\0")
    path = folder / f"check-{digest.hexdigest()[:16]}.sock"
    return path if len(str(path)) + 12 < MAX_SOCKET_PATH else None  # + the draft's ".<pid>"


CODE_LOOK_EVERY = 3.0  # seconds
MAX_SOCKET_PATH = 108  # bytes, with the final NUL (Linux's sun_path)


def code_fingerprint() -> str:
    """The workbook package's files, the lock file and the installed packages, as stats: a
    server whose code changed since it started is stale (it leaves; the next check starts
    a fresh one)."""
    files = [*sorted((ROOT / "workbook").rglob("*.py")), ROOT / "requirements.lock"]
    files += [Path(sys.prefix) / "pyvenv.cfg", Path(sysconfig.get_paths()["purelib"])]
    stats = []
    for file in files:
        with contextlib.suppress(OSError):
            stat = file.stat()
            stats.append(f"{file}:{stat.st_mtime_ns}:{stat.st_size}")
    return hashlib.sha256("\0".join(stats).encode()).hexdigest()


def _private_folder() -> Path | None:
    """/tmp/workbook-<uid>, made 0700 (whatever the umask made it), used only if it is ours
    and not a symlink (its sockets are 0600, and the server asks each client who it is)."""
    folder = Path(tempfile.gettempdir()) / f"workbook-{os.getuid()}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        stat = os.fstat(fd)
        if stat.st_uid != os.getuid():
            return None
        if stat.st_mode & 0o077:
            os.fchmod(fd, 0o700)
    except OSError:
        return None
    finally:
        os.close(fd)
    return folder


def _connect(path: Path) -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    sock.settimeout(2)  # a wedged server's full backlog must not block a check
    try:
        sock.connect(str(path))
    except OSError:
        sock.close()
        return None
    sock.settimeout(None)
    return sock


def _start(path: Path, env: dict[str, str]) -> None:
    """Start a server in a session of its own (the shell's Ctrl-C is not for it), nobody's
    child (it outlives us). The lock file's lock goes with it until it listens: while a
    server starts, other checks run fresh instead of starting a second one."""
    lock = os.open(path.with_suffix(".lock"), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        ready = _connect(path)
        if ready is not None:  # it began listening just now
            ready.close()
            return
        idle = env.get(IDLE_ENV) or str(IDLE)
        proc = check_server.spawn(__name__, [str(path), idle, str(lock)], env, lock)
        proc.wait()  # the first process forks the server and exits
    except OSError:  # BlockingIOError: a server is starting
        pass
    finally:
        os.close(lock)


# --- the server's side -----------------------------------------------------------------------


def main() -> None:
    """The server: import, then listen (the socket appears only once it is ready)."""
    path, idle, lock = Path(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
    code = code_fingerprint()
    if os.fork():
        os._exit(0)  # the starter's child exits: the server is nobody's child
    base = check_server.warm_up()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    draft = path.with_name(f"{path.name}.{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        draft.unlink()
    listener.bind(str(draft))
    os.chmod(draft, 0o600)
    listener.listen(16)
    os.replace(draft, path)  # a server started beside us is replaced: it sees and ends
    os.close(lock)  # listening: the next check connects
    conn, job, fds = _serve(listener, path, path.stat().st_ino, idle, code)
    job = check_server.supervise_in_child(conn, job, fds)
    check_server.run_job(job, base)


def _serve(listener: socket.socket, path: Path, inode: int, idle: float,
           code: str) -> tuple[socket.socket, dict[str, Any], list[int]]:  # fmt: skip
    """Accept this user's clients, fork a supervisor per job; returns only in a supervisor.
    Leaves when idle, when its socket is another server's, or when the code it imported
    changed (looked at every few seconds)."""
    clients: list[socket.socket] = []
    last = looked = time.monotonic()
    while True:
        readable = select.select([listener, *clients], [], [], 1.0)[0]
        for sock in readable:
            if sock is listener:
                _accept(listener, clients)
                continue
            try:
                data, fds, _flags, _addr = socket.recv_fds(sock, check_server.MESSAGE_LIMIT, 8)
            except OSError:
                data, fds = b"", []
            job = _job(data)
            if job is None or job.get("quit") or len(fds) != 5:
                for fd in fds:
                    os.close(fd)
                if job is not None and job.get("quit"):
                    _leave(path, inode)
                clients.remove(sock)
                sock.close()
                continue
            pid = os.fork()
            if pid == 0:
                listener.close()
                for other in clients:
                    if other is not sock:
                        other.close()
                return sock, job, fds
            for fd in fds:
                os.close(fd)
            with contextlib.suppress(OSError):
                sock.send(json.dumps({"pid": pid}).encode())
        now = time.monotonic()
        if readable or clients:
            last = now
        with contextlib.suppress(ChildProcessError):  # supervisors that ended
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        if now - last > idle or not _still_ours(path, inode):
            _leave(path, inode)
        if now - looked > CODE_LOOK_EVERY:
            looked = now
            if code_fingerprint() != code:
                _leave(path, inode)


def _accept(listener: socket.socket, clients: list[socket.socket]) -> None:
    """A client of this user, and not a process below this server (a check's code: a job
    it sent would run outside its check's supervision and time limit)."""
    with contextlib.suppress(OSError):
        conn, _ = listener.accept()
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        pid, uid, _gid = struct.unpack("3i", creds)
        if uid != os.getuid() or os.getpid() in _ancestors(pid):
            conn.close()
            return
        conn.send(json.dumps({"ready": True, "root": str(ROOT)}).encode())
        clients.append(conn)


def _ancestors(pid: int) -> set[int]:
    """`pid` and its parent, grandparent, ... (from /proc; a process gone ends the chain)."""
    found: set[int] = set()
    while pid > 1 and pid not in found:
        found.add(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        pid = int(stat.rsplit(")", 1)[1].split()[1])  # the field after the state
    return found


def _job(data: bytes) -> dict[str, Any] | None:
    with contextlib.suppress(ValueError):
        job = json.loads(data) if data else None
        return job if isinstance(job, dict) else None
    return None


def _still_ours(path: Path, inode: int) -> bool:
    try:
        return path.stat().st_ino == inode
    except OSError:
        return False


def _leave(path: Path, inode: int) -> None:
    """End the server, removing its socket if it is still ours (not a newer server's)."""
    if _still_ours(path, inode):
        with contextlib.suppress(OSError):
            path.unlink()
    os._exit(0)
