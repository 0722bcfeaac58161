# app/main.py
# The tutorial's app, fixed (notebook 03): the job's module by its path from the project
# folder, the queue from app.rq_worker (JSON, as the worker reads it), and job.id.
# Start, from the folder holding app/:
#   uvicorn app.main:app --reload
from fastapi import FastAPI

from app.rq_worker import generate_report, queue

app = FastAPI()


@app.post("/report/{user_id}")
def request_report(user_id: int) -> dict[str, str]:
    """Enqueue the report and answer at once with the job's id."""
    job = queue.enqueue(generate_report, user_id)
    return {"job_id": job.id, "status": "queued"}
