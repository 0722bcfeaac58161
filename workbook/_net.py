"""Loopback networking for every server the workbook starts: one host, free ports, binding
with an error that names the fix, and the HTTP handle that servers share."""

from __future__ import annotations

import errno
import random
import socket
from typing import Any
from urllib.parse import urlsplit

from ._errors import WorkbookError
from ._registry import Handle

HOST = "127.0.0.1"

# Ports for servers the workbook starts: below the ephemeral ranges (Linux 32768-60999, macOS
# 49152-65535) that outgoing connections draw from, so none can take a port between the
# moment it is picked and the moment a child process binds it (or binds it again on restart).
SERVER_PORTS = range(20000, 32000)


class PortInUse(WorkbookError):
    """A port the learner asked for is held by another program."""

    def __init__(self, port: int) -> None:
        self.port = port
        super().__init__(
            f"Port {port} on {HOST} is already in use by another program.",
            f"leave out port= to let the workbook pick a free port, or stop what holds it"
            f" (`lsof -i :{port}` shows it; wb.stop_all() stops what this kernel started).",
        )


def free_port() -> int:
    """A loopback port that nothing listens on now, for a child process to bind."""
    for port in random.sample(SERVER_PORTS, 50):
        with socket.socket() as sock:
            try:
                sock.bind((HOST, port))
            except OSError:
                continue
            return port
    with socket.socket() as sock:  # a crowded range: let the system choose
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def bind(port: int | None) -> socket.socket:
    """A TCP socket bound to `port` on the loopback (any free one for None), or PortInUse."""
    # proto=IPPROTO_TCP matters: asyncio turns Nagle off only on sockets that say TCP, and
    # without that every keep-alive response waits 40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port or 0))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(port or 0) from None
        raise
    return sock


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}:{parts.port or 6379}{parts.path}"


def check_free(port: int | None) -> None:
    """Raise PortInUse now, rather than let a child process crash on it later."""
    if port is not None:
        bind(port).close()


def kept_port(old: object, kind: type, port: int | None) -> int | None:
    """The port to use: the one asked for, else the port of the handle a re-run replaces
    (so its URL stays valid), else None (pick a free one)."""
    if port is None and isinstance(old, kind):
        return old.port  # type: ignore[attr-defined]
    return port


class HttpHandle(Handle):
    """A server on the loopback: `.url`, `.port` and `.client`, an httpx client for it."""

    kind = "server"

    def __init__(self, name: str, port: int, timeout: float = 30, **client: Any) -> None:
        self.name, self.port = name, port
        self.url = f"http://{HOST}:{port}"
        import httpx  # here: Redis and the workers use this module's ports without HTTP

        # trust_env=False: a proxy set in the environment must not swallow loopback calls.
        self.client = httpx.Client(base_url=self.url, timeout=timeout, trust_env=False, **client)

    def _release(self) -> None:
        self.client.close()
        super()._release()

    def accepting(self) -> bool:
        """Whether something accepts connections on the port now."""
        with socket.create_connection((HOST, self.port), timeout=0.2):
            return True

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} at {self.url}>"
