"""The response goes out first; the background task runs after it, in the same process.

`send_invoice` stands for any slow job. Each invoice records when the request was answered
and when its task finished, so the two moments can be compared.
"""

from __future__ import annotations

import time
import uuid

from fastapi import BackgroundTasks, FastAPI, HTTPException

from app_snippets.settings import seconds

app = FastAPI(title="Background timing")
INVOICES: dict[str, dict[str, float]] = {}  # invoice id -> timestamps; a real app uses a database


def send_invoice(invoice_id: str) -> None:
    INVOICES[invoice_id]["task_started_at"] = time.time()
    time.sleep(seconds(2))  # the slow part: render the PDF, send the email
    INVOICES[invoice_id]["task_finished_at"] = time.time()


@app.post("/invoices", status_code=202)
def create_invoice(background_tasks: BackgroundTasks) -> dict[str, str]:
    invoice_id = uuid.uuid4().hex
    INVOICES[invoice_id] = {"answered_at": time.time()}
    background_tasks.add_task(send_invoice, invoice_id)
    return {"id": invoice_id, "status": "accepted"}


@app.get("/invoices/{invoice_id}")
def read_invoice(invoice_id: str) -> dict[str, float]:
    if invoice_id not in INVOICES:
        raise HTTPException(status_code=404, detail=f"No invoice {invoice_id}")
    return INVOICES[invoice_id]
