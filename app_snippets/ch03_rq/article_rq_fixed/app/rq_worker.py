# app/rq_worker.py
# The tutorial's worker, fixed (notebook 03): connection= instead of Connection, JSON instead
# of pickle, and started as a module, so that it imports jobs by the path the app records.
# Start, from the folder holding app/:
#   python -m app.rq_worker
import logging
import os
import time

from redis import Redis
from rq import Queue, Worker
from rq.serializers import JSONSerializer

redis_conn = Redis.from_url(os.environ["REDIS_URL"])
queue = Queue("default", connection=redis_conn, serializer=JSONSerializer)


def generate_report(user_id: int) -> str:
    """Stands in for a PDF report that takes 8 seconds."""
    logging.info(f"Start generating report for user {user_id}")
    time.sleep(8)
    logging.info(f"Report for user {user_id} completed")
    return f"/tmp/report_{user_id}.pdf"


if __name__ == "__main__":
    Worker([queue], connection=redis_conn, serializer=JSONSerializer).work()
