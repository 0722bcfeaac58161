"""The typical blog tutorial's Celery example, typed in as a learner would.

Notebook 02 runs it as it is and fixes what breaks. Only two things are added to the
article's code: the settings come from app_snippets.settings (as in every snippet), and
GET /ping lets the notebook measure whether the server still answers.
"""

import time

from celery import Celery
from celery.result import AsyncResult
from fastapi import FastAPI

from app_snippets.settings import redis_url, seconds

app = FastAPI()
celery = Celery(__name__, broker=redis_url(), backend=redis_url())


@celery.task
def send_email(email, subject, body):
    time.sleep(seconds(1))  # stands in for the call to the mail server
    return f"sent {subject!r} to {email}"


@app.post("/send-email")
async def send(email: str, subject: str, body: str):
    task = send_email.delay(email, subject, body)
    return {"task_id": task.id}


@app.get("/task-status/{task_id}")
async def task_status(task_id: str):
    return {"status": AsyncResult(task_id).status}


@app.get("/ping")  # added: the notebook pings while other requests run
async def ping():
    return "pong"
