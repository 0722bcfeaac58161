"""Print the watchdog's memory (RSS and USS) while a kernel-like parent runs.

    .venv/bin/python tools/measure_watchdog.py [--repeats 5]

A parent process starts the workbook's Redis (which starts the watchdog, as every kernel
does) and the watchdog's memory is read with psutil after it has settled (its first look
at its groups imports psutil). Figures, not assertions; a bare `python -I -c pass` is shown
for scale.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

import psutil

PARENT = """
import sys, time
import workbook as wb
from workbook import _watchdog
wb.start_redis()
print(_watchdog._watchdog.pid, flush=True)
sys.stdin.readline()
wb.stop_all()
"""


def watchdog_memory() -> tuple[float, float]:
    """(RSS, USS) of the watchdog in MB, three seconds after it started."""
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None and parent.stdin is not None
        pid = int(parent.stdout.readline())
        time.sleep(3)  # its loop looks at its groups every second
        info = psutil.Process(pid).memory_full_info()
        parent.stdin.write("\n")
        parent.stdin.flush()
        parent.wait(30)
        return info.rss / 2**20, info.uss / 2**20
    finally:
        if parent.poll() is None:
            parent.kill()


def bare_python() -> float:
    child = subprocess.Popen([sys.executable, "-I", "-c", "import time; time.sleep(3)"])
    time.sleep(1)
    rss = psutil.Process(child.pid).memory_info().rss / 2**20
    child.wait()
    return rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    figures = [watchdog_memory() for _ in range(args.repeats)]
    rss = statistics.median(f[0] for f in figures)
    uss = statistics.median(f[1] for f in figures)
    print(f"watchdog: RSS {rss:.1f} MB, USS {uss:.1f} MB (median of {args.repeats})")
    print(f"bare `python -I`: RSS {bare_python():.1f} MB")


if __name__ == "__main__":
    main()
