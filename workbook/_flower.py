"""flower(): Celery's web monitor, Flower, as a child process on 127.0.0.1.

`celery -A module:app flower` on a loopback port, behind basic auth with a user name and a
random password made once per kernel. Loopback alone does not protect an HTTP API: any web
page open in the learner's browser can send requests to 127.0.0.1, and Flower's API starts
tasks and shuts workers down. With basic auth set, Flower also refuses cross-origin writes.
The credentials reach Flower through its environment (FLOWER_BASIC_AUTH), never its command
line. Flower lists tasks only from workers that send events: start them with `events=True`.
"""

from __future__ import annotations

import html
import secrets
import sys
from typing import Any

from . import _registry
from ._net import HOST, HttpHandle, PortInUse, check_free, free_port, kept_port
from ._paths import import_path
from ._procs import ChildProcess, ProcessHandle
from ._redis import require

USER = "workbook"
_PASSWORD = secrets.token_urlsafe(16)  # one per kernel: a re-run cell keeps the same login


class FlowerServer(HttpHandle, ProcessHandle):
    """Flower in a child process: `.url` (its UI), `.api(path)`, `.client`, `.logs()`."""

    def __init__(self, target: str, port: int | None, options: dict[str, Any]) -> None:
        check_free(port)  # a clear error now rather than a crashed child later
        self.user, self.password = USER, _PASSWORD
        super().__init__(target, port or free_port(), timeout=10, auth=(USER, _PASSWORD))
        self.target = target
        flags = _flags({"address": HOST, "port": self.port, **options})
        argv = [sys.executable, "-m", "celery", "-A", target, "flower", *flags]
        env = {
            "FLOWER_BASIC_AUTH": f"{self.user}:{self.password}",
            "FLOWER_UNAUTHENTICATED_API": "",
        }
        self.process = ChildProcess(f"flower-{self.port}", argv, env=env)
        self._start()

    def _start(self) -> None:
        self.process.start()
        self.process.wait_ready(self._healthy, self._explain)

    def _healthy(self) -> bool:
        return self.client.get("/healthcheck", timeout=0.5).status_code == 200

    def _explain(self, logs: str) -> tuple[str, str]:
        if "No such command" in logs or ("flower" in logs and "not found" in logs):
            return (
                "Flower is not installed in this environment.",
                "run `make install` (the lock file has flower).",
            )
        if "Unable to load" in logs or ("Error" in logs and "import" in logs.lower()):
            return (
                f"Flower could not import the Celery app {self.target!r}.",
                'pass "module:attribute" importable from the repository root, such as'
                ' "app_snippets.ch02_celery.celery_status:celery_app".',
            )
        if "already in use" in logs.lower():
            error = PortInUse(self.port)
            return error.what, error.fix
        return (f"Flower for {self.target!r} did not start.", "read the log lines below.")

    def api(self, path: str, **params: Any) -> Any:
        """GET /api/<path> and return the JSON, e.g. `.api("workers")`, `.api("tasks")`."""
        response = self.client.get(f"/api/{path.lstrip('/')}", params=params)
        response.raise_for_status()
        return response.json()

    def __repr__(self) -> str:
        state = "running" if self.alive() else "stopped"
        return (
            f"<flower {self.target} at {self.url} pid {self.pid} {state};"
            f" log in as {self.user!r} with password {self.password!r}>"
        )

    def _repr_html_(self) -> str:
        state = "running" if self.alive() else "stopped"
        url = html.escape(self.url)
        return (
            f"Flower for <code>{html.escape(self.target)}</code> at"
            f" <a href='{url}' target='_blank'>{url}</a> (pid {self.pid}, {state}).<br>"
            f"Log in as <code>{html.escape(self.user)}</code> with password"
            f" <code>{html.escape(self.password)}</code> (made for this kernel;"
            " <code>.api(...)</code> sends it for you)."
        )


def flower(app: Any, *, port: int | None = None, **options: Any) -> FlowerServer:
    """Start Flower, Celery's monitor, for `app` ("module:attr" or the app object) on 127.0.0.1.

    Returns once it answers; `.url` is its web UI, `.api("workers")` / `.api("tasks")` its
    HTTP API. Both need the login shown by the handle (`.user`, `.password`: random, made
    once per kernel); `.api()` and `.client` send it. Tasks show up only from workers
    started with events=True. Extra keyword options become flower's CLI flags. Running it
    again for the same app replaces it on the same port; it stops with the kernel.
    """
    target = import_path(app, "Celery app")
    broker = None if isinstance(app, str) else app.conf.broker_url
    if broker is None or broker.startswith(("redis://", "rediss://", "unix://")):
        require(broker, "Flower")
    key = f"flower {target}"
    port = kept_port(_registry.get(key), FlowerServer, port)
    return _registry.replace(key, lambda: FlowerServer(target, port, options))


def _flags(options: dict[str, Any]) -> list[str]:
    """Flower parses its options with tornado: `--name=value`, not `--name value`."""
    flags = []
    for key, value in options.items():
        if value is True:
            flags.append(f"--{key}")
        elif value is not False and value is not None:
            flags.append(f"--{key}={value}")
    return flags
