# app/main.py
# A typical tutorial's FastAPI + RQ app, reproduced as it is printed (notebook 03 runs it and
# fixes it). One change: where Redis lives (REDIS_URL). Start, from the folder holding app/:
#   uvicorn app.main:app --reload
import os

from fastapi import FastAPI
from redis import Redis
from rq import Queue
from rq_worker import generate_report  # 讓 RQ 能序列化

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
