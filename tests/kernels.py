"""Drive a real Jupyter kernel from a test, and see which processes exist."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from jupyter_client.manager import KernelManager

ROOT = Path(__file__).resolve().parents[1]


def start_kernel() -> tuple[KernelManager, object]:
    manager = KernelManager(kernel_name="python3")
    manager.start_kernel(cwd=str(ROOT), env={**os.environ}, stderr=subprocess.DEVNULL)
    client = manager.client()
    client.start_channels()
    client.wait_for_ready(timeout=60)
    return manager, client


def run(client, code: str, timeout: float = 120) -> str:
    """Execute `code`; return its stdout; raise with the traceback if it failed."""
    out: list[str] = []
    reply = client.execute_interactive(
        code,
        timeout=timeout,
        output_hook=lambda msg: (
            out.append(msg["content"].get("text", ""))
            if msg["msg_type"] == "stream"
            else (
                out.append("\n".join(msg["content"]["traceback"]))
                if msg["msg_type"] == "error"
                else None
            )
        ),
    )
    if reply["content"]["status"] != "ok":
        raise AssertionError("kernel code failed:\n" + "".join(out))
    return "".join(out)


def run_json(client, code: str, timeout: float = 120):
    return json.loads(run(client, code, timeout).strip().splitlines()[-1])


def living(pids: set[int]) -> set[int]:
    """The pids that still exist and are not zombies (a zombie has released everything)."""
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if state != "Z":
            alive.add(pid)
    return alive


def wait_until_gone(pids: set[int], seconds: float) -> set[int]:
    """The pids still living after up to `seconds` of waiting for them to go."""
    deadline = time.monotonic() + seconds
    while living(pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return living(pids)


def group_members(pgids: set[int]) -> set[int]:
    """Every process in the given process groups (children of workers included)."""
    members = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(fields[2]) in pgids:
                members.add(int(entry.name))
    return members
