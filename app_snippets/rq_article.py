"""The seed article's RQ example, as written: it no longer imports (RQ 2.0 removed Connection).

Kept as a record of what popular tutorials still show. The only change is where Redis is:
the article's `Redis()` means localhost:6379; here it reads REDIS_URL. The fixed app is
app_snippets/rq_emails.py.
"""

from fastapi import FastAPI
from redis import Redis
from rq import Connection, Queue  # noqa: F401  RQ >= 2.0: ImportError, Connection is gone

from app_snippets.rq_tasks import send_email
from app_snippets.settings import redis_url

app = FastAPI()
q = Queue(connection=Redis.from_url(redis_url()))  # the article: Queue(connection=Redis())


@app.post("/send-email/")
def send(to: str, subject: str):
    job = q.enqueue(send_email, to, subject)
    return {"job_id": job.get_id()}  # RQ >= 2.0: AttributeError, use job.id
