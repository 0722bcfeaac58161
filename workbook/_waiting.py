"""Wait for a condition and time a call: the two helpers every notebook and test needs.

One poller for the whole workbook, so that a wait never becomes a fixed sleep (too short on a
busy laptop, too long everywhere else) and every wait that runs out says what it waited for.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(TimeoutError):
    """A condition stayed false past its limit; the message names it and the seconds waited."""


def wait_for(
    condition: Callable[[], T],
    seconds: float = 10,
    desc: str | None = None,
    *,
    limit: float | None = None,
    poll: float = 0.02,
) -> T:
    """Poll `condition()` until it returns something truthy, and return that.

    `seconds` is how long the wait should take: with a `desc`, a progress bar counts up to it.
    It gives up after `limit` seconds (by default 3 × `seconds` + 10, room for a busy machine)
    with a WaitTimeout that names `desc` (or the condition).
    """
    limit = 3 * seconds + 10 if limit is None else limit
    started = time.monotonic()
    bar = _bar(seconds, desc)
    try:
        while not (result := condition()):
            elapsed = time.monotonic() - started
            if elapsed > limit:
                raise WaitTimeout(
                    f"still waiting after {elapsed:.1f} s for {desc or _name(condition)}"
                    f" (expected about {seconds:g} s)"
                )
            if bar is not None:
                bar.n = round(min(elapsed, seconds), 1)
                bar.refresh()
            time.sleep(poll)
        if bar is not None:
            bar.n = bar.total
            bar.refresh()
        return result
    finally:
        if bar is not None:
            bar.close()


def timed(call: Callable[[], object]) -> float:
    """Seconds that `call()` took (a monotonic clock, so a clock change cannot skew it)."""
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def _bar(seconds: float, desc: str | None):  # -> tqdm | None
    if desc is None:
        return None
    from tqdm.auto import tqdm  # only when a bar is asked for: tests and checks wait without

    shape = "{desc}: {bar} {n:.1f}/{total:.1f} s"
    return tqdm(total=round(seconds, 1), desc=desc, bar_format=shape)


def _name(condition: Callable[[], object]) -> str:
    return getattr(condition, "__qualname__", None) or repr(condition)
