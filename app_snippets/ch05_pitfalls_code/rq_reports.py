"""An RQ job function. RQ stores the function's import path ("module.function") in the job,
and the worker imports that path: it must be importable from where the WORKER runs."""

from __future__ import annotations


def build_report(report_id: int) -> str:
    return f"report {report_id} built"
