"""Keep the recent log lines of a thread-run server or worker, for `.logs()` and error messages.

In a notebook, log lines printed from background threads land in whichever cell happens to
be running; collecting them here keeps cells clean and still lets a learner look.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class LogBuffer(logging.Handler):
    """A ring buffer of formatted records from some loggers, optionally from some threads."""

    def __init__(
        self,
        loggers: tuple[str, ...],
        accept: Callable[[logging.LogRecord], bool] | None = None,
        size: int = 500,
    ) -> None:
        super().__init__(logging.INFO)
        self.lines: deque[str] = deque(maxlen=size)
        self.accept = accept
        self.loggers = loggers
        self.setFormatter(logging.Formatter(FORMAT, "%H:%M:%S"))
        self._lock_lines = threading.Lock()
        for name in loggers:
            logger = logging.getLogger(name)
            if logger.level == logging.NOTSET or logger.level > logging.INFO:
                logger.setLevel(logging.INFO)
            logger.propagate = False  # keep the notebook's cells free of background chatter
            logger.addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        if self.accept is not None and not self.accept(record):
            return
        try:
            line = self.format(record)
        except Exception:  # a broken record must not break the server
            line = str(record.msg)
        with self._lock_lines:
            self.lines.append(line)

    def text(self, lines: int = 40) -> str:
        with self._lock_lines:
            return "\n".join(list(self.lines)[-lines:])

    def detach(self) -> None:
        for name in self.loggers:
            logging.getLogger(name).removeHandler(self)
