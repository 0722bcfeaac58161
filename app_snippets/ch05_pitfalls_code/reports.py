"""The report tasks, in their own module: a worker knows them only if it imports this file.

`name=` pins each task's name. Without it the name is "module.function", and moving or
renaming the function renames the task: messages already queued under the old name then
reach a worker that has never heard of it.
"""

from __future__ import annotations

from celery import shared_task


@shared_task(name="ch05.reports.build")
def build_report(report_id: int) -> str:
    return f"report {report_id} built"
