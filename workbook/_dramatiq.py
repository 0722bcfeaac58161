"""dramatiq_worker(): a Dramatiq worker in kernel threads, or the `dramatiq` CLI as a child."""

from __future__ import annotations

import importlib
import logging
import sys
import threading
from typing import Any

import dramatiq

from . import _registry
from ._logs import LogBuffer
from ._paths import import_path
from ._redis import require
from ._threads import ThreadHandle
from ._workers import ProcessWorker, cli_flags, key


def _load_broker(target: Any) -> dramatiq.Broker:
    """A broker object, or "module" / "module:broker" as the dramatiq CLI takes it."""
    if isinstance(target, dramatiq.Broker):
        return target
    module_name, _, attr = str(target).partition(":")
    module = importlib.import_module(module_name)
    if attr:
        return getattr(module, attr)
    # The CLI takes the global broker, which in a fresh process is the one the module set.
    # In a kernel the module may have been imported long ago and another module set the
    # global since: the module's own broker object, where it has exactly one, is meant.
    own = {id(v): v for v in vars(module).values() if isinstance(v, dramatiq.Broker)}
    return next(iter(own.values())) if len(own) == 1 else dramatiq.get_broker()


def _broker_url(broker: dramatiq.Broker) -> str | None:
    client = getattr(broker, "client", None)
    if client is None:
        return None
    kwargs = client.connection_pool.connection_kwargs
    if "path" in kwargs:
        return None
    password = kwargs.get("password") or ""
    auth = f":{password}@" if password else ""
    host, port = kwargs.get("host", "127.0.0.1"), kwargs.get("port", 6379)
    return f"redis://{auth}{host}:{port}/{kwargs.get('db', 0)}"


def _start_time_limits(broker: dramatiq.Broker) -> None:
    """Start the TimeLimit middleware's watchdog thread, which the CLI starts at process boot
    (a plain dramatiq.Worker never boots the process, so `time_limit` would go unenforced)."""
    from dramatiq.middleware import TimeLimit

    for middleware in broker.middleware:
        manager = getattr(middleware, "manager", None)
        is_thread = isinstance(manager, threading.Thread)
        if isinstance(middleware, TimeLimit) and is_thread and manager.ident is None:
            manager.start()  # (a thread can be started only once)


class DramatiqThreadWorker(ThreadHandle):
    """dramatiq.Worker in threads of the kernel: what the CLI runs in each of its processes.
    Its start returns with the threads running; a stop waits for tasks that run."""

    stop_timeout = 10.0

    def __init__(self, broker: dramatiq.Broker, threads: int = 4, **options: Any) -> None:
        self.broker = broker
        self._buffer = LogBuffer(("dramatiq",))
        # worker_timeout: how long (ms) consumers wait for a message; short, so stop is quick.
        options.setdefault("worker_timeout", 100)
        self.worker = dramatiq.Worker(broker, worker_threads=threads, **options)
        self.worker.start()
        _start_time_limits(broker)
        logging.getLogger("dramatiq.workbook").info(
            "Worker started in this kernel: %d threads, queues %s",
            threads,
            ", ".join(sorted(broker.get_declared_queues())) or "(none declared yet)",
        )

    def join(self) -> None:
        """Wait until every queue of the broker is empty and no message is in flight."""
        for queue in self.broker.get_declared_queues():
            self.broker.join(queue)
        self.worker.join()

    def _threads(self) -> list[threading.Thread]:
        return [*self.worker.workers, *self.worker.consumers.values()]

    def _join(self, timeout: float) -> None:
        self.worker.stop(timeout=int(timeout * 1000))  # it joins its threads itself

    def _release(self) -> None:
        # The worker leaves a middleware on the broker that adds a consumer for every queue
        # declared later; a stopped worker's consumer would take messages and never run them.
        self.broker.middleware[:] = [
            m for m in self.broker.middleware if getattr(m, "worker", None) is not self.worker
        ]
        super()._release()

    def __repr__(self) -> str:
        return f"<dramatiq thread worker {type(self.broker).__name__}>"


def _dramatiq_ready(process: Any) -> bool:
    return "is ready for action" in process.logs(200)


def dramatiq_worker(
    broker_or_module: Any, *, process: bool = False, **options: Any
) -> DramatiqThreadWorker | ProcessWorker:
    """Start a Dramatiq worker and return once it consumes.

    Give a broker object, or the module that declares the actors (and sets the broker),
    as "app_snippets.ch00_setup.quickstart_dramatiq" or "module:broker". In a thread by default
    (threads=4); with `process=True`, the real `dramatiq` CLI with one process unless
    processes= says otherwise.
    """
    if process:
        target = import_path(broker_or_module, "Dramatiq broker or module")
        require(None, "The Dramatiq worker")

        def start() -> DramatiqThreadWorker | ProcessWorker:
            flags = {"processes": 1, "threads": 4, **options}
            argv = [sys.executable, "-m", "dramatiq", target, *cli_flags(flags)]
            return ProcessWorker("dramatiq", target, argv, _dramatiq_ready)

        return _registry.replace(key("dramatiq", target), start)

    broker = _load_broker(broker_or_module)
    url = _broker_url(broker)
    if url:
        require(url, "The Dramatiq worker")
    # Each broker object is its own worker; a re-run cell reuses the module's broker object.
    name = (
        broker_or_module
        if isinstance(broker_or_module, str)
        else f"{type(broker).__name__} {id(broker):x}"
    )
    return _registry.replace(key("dramatiq", name), lambda: DramatiqThreadWorker(broker, **options))
