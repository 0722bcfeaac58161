# app/main.py
# The tutorial's app, step 1 (notebook 03): the import names the module's path, nothing else
# changed. Start, from the folder holding app/:
#   uvicorn app.main:app --reload
import os

from fastapi import FastAPI
from redis import Redis
from rq import Queue
from app.rq_worker import generate_report  # step 1: the module's path from this folder

app = FastAPI()
redis_conn = Redis.from_url(os.environ["REDIS_URL"])  # the tutorial: Redis(host="localhost", ...)
queue = Queue("default", connection=redis_conn)


@app.post("/report/{user_id}")
def request_report(user_id: int):
    """
    使用 RQ 將報表產生工作推入佇列,立刻回傳任務 ID。
    """
    job = queue.enqueue(generate_report, user_id)
    return {"job_id": job.get_id(), "status": "queued"}
