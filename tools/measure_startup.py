"""Print start-up figures: fresh kernel to first task result, `make lab`, `make test`.

    .venv/bin/python tools/measure_startup.py                # kernels only (about 30 s)
    .venv/bin/python tools/measure_startup.py --lab --test   # also clean-clone make lab / test

Figures, not assertions: a busy machine is slower, and a test that times things flakes.
Targets (issue 2): first result within 0.3 s in a thread and 1 s as a process, after the
kernel is up; `make lab` serving within 60 s; `make test` within 5 minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from jupyter_client.manager import KernelManager

ROOT = Path(__file__).resolve().parents[1]

CELL = """
import time, json
t0 = time.perf_counter()
import workbook as wb
from workbook._roundtrip import round_trip
wb.start_redis()
t1 = time.perf_counter()
{imports}
t2 = time.perf_counter()
worker = {start}
t3 = time.perf_counter()
result = round_trip({args}).result
t4 = time.perf_counter()
assert result == 5, result
wb.stop_all()
print(json.dumps({{"imports": t1 - t0 + t2 - t1, "worker_ready": t3 - t2, "first_result": t4 - t3,
                   "start_to_result": t4 - t2, "cell": t4 - t0}}))
"""

CASES = {
    "celery": (
        "from app_snippets.ch00_setup import quickstart_celery as q",
        "wb.celery_worker({target}, process={process})",
        "q.add, 2, 3",
        ("q.celery_app", '"app_snippets.ch00_setup.quickstart_celery:celery_app"'),
    ),
    "rq": (
        "from app_snippets.ch00_setup import quickstart_rq as q",
        'wb.rq_worker(["default"], serializer="json", process={process})',
        "q.add, 2, 3, queue=q.queue()",
        ("", ""),
    ),
    "dramatiq": (
        "from app_snippets.ch00_setup import quickstart_dramatiq as q",
        'wb.dramatiq_worker("app_snippets.ch00_setup.quickstart_dramatiq", process={process})',
        "q.add, 2, 3",
        ("", ""),
    ),
}


def fresh_kernel_figures(repeats: int) -> None:
    print("Fresh kernel -> first task result (median of", repeats, "kernels; seconds)")
    print(f"{'queue':9} {'mode':8} {'kernel up':>9} {'imports':>8} {'ready':>7} {'result':>7}"
          f" {'start->result':>14}")  # fmt: skip
    for name, (imports, start, args, targets) in CASES.items():
        for process in (False, True):
            rows = []
            for _ in range(repeats):
                rows.append(_one_kernel(imports, start, args, targets, process))
            med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
            print(f"{name:9} {'process' if process else 'thread':8} {med['kernel_up']:9.2f}"
                  f" {med['imports']:8.2f} {med['worker_ready']:7.3f} {med['first_result']:7.3f}"
                  f" {med['start_to_result']:14.3f}")  # fmt: skip


def _one_kernel(imports, start, args, targets, process) -> dict[str, float]:
    began = time.perf_counter()
    manager = KernelManager(kernel_name="python3")
    manager.start_kernel(cwd=str(ROOT), stderr=subprocess.DEVNULL)
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        kernel_up = time.perf_counter() - began
        target = targets[1] if process else targets[0]
        code = CELL.format(
            imports=imports, start=start.format(target=target, process=process),
            args=args,
        )  # fmt: skip
        out: list[str] = []
        reply = client.execute_interactive(
            code, timeout=120,
            output_hook=lambda m: out.append(m["content"].get("text", ""))
            if m["msg_type"] == "stream" else None,
        )  # fmt: skip
        if reply["content"]["status"] != "ok":
            raise SystemExit(f"kernel cell failed: {reply['content']}")
        figures = json.loads("".join(out).strip().splitlines()[-1])
        figures["kernel_up"] = kernel_up
        return figures
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=False)


def _clean_clone() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="workbook-clone-"))
    subprocess.run(["git", "clone", "-q", str(ROOT), str(folder)], check=True)
    return folder


def make_lab_figure(cold_cache: bool) -> None:
    clone = _clean_clone()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "JUPYTER"))}
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if ".venv" not in p)
    if cold_cache:
        env["UV_CACHE_DIR"] = str(clone / ".uv-cache")
        env["PIP_NO_CACHE_DIR"] = "1"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    began = time.perf_counter()
    lab = subprocess.Popen(
        ["make", "lab", f"LAB_ARGS=--no-browser --ServerApp.port={port}"], cwd=clone, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    url = None
    try:
        assert lab.stdout is not None
        for line in lab.stdout:
            found = re.search(r"(http://127\.0\.0\.1:\d+/lab\S*\?token=\w+)", line)
            if found:
                url = found[1]
                break
        if url is None:
            raise SystemExit("make lab never printed its URL")
        api = url.split("/lab")[0] + "/api/status?" + url.split("?", 1)[1]
        deadline = time.monotonic() + 30
        while True:  # the URL is logged a moment before the server accepts connections
            try:
                with urllib.request.urlopen(api, timeout=5) as response:
                    assert response.status == 200
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        seconds = time.perf_counter() - began
        print(f"make lab, clean clone ({'cold' if cold_cache else 'warm'} package cache):"
              f" serving after {seconds:.1f} s")  # fmt: skip
    finally:
        os.killpg(lab.pid, signal.SIGTERM)
        lab.wait(30)
        shutil.rmtree(clone, ignore_errors=True)


def make_test_figure() -> None:
    clone = _clean_clone()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "JUPYTER"))}
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if ".venv" not in p)
    began = time.perf_counter()
    done = subprocess.run(["make", "test"], cwd=clone, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - began
    summary = [line for line in done.stdout.splitlines() if " passed" in line or " failed" in line]
    print(f"make test, clean clone: exit {done.returncode} after {seconds:.0f} s;"
          f" {summary[-1] if summary else done.stdout[-500:]}")  # fmt: skip
    shutil.rmtree(clone, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--lab", action="store_true", help="time `make lab` on a clean clone")
    parser.add_argument("--cold", action="store_true", help="with --lab: empty package caches")
    parser.add_argument("--test", action="store_true", help="time `make test` on a clean clone")
    args = parser.parse_args()
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    fresh_kernel_figures(args.repeats)
    if args.lab:
        make_lab_figure(args.cold)
    if args.test:
        make_test_figure()


if __name__ == "__main__":
    main()
