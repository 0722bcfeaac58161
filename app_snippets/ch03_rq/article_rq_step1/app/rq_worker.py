# app/rq_worker.py
# The tutorial's worker, step 1 (notebook 03): `Connection` removed, nothing else changed.
# Start, from the folder holding app/:
#   python app/rq_worker.py
import os, time, logging
from redis import Redis
from rq import Queue, Worker  # step 1: Connection is gone since RQ 2.0

redis_conn = Redis.from_url(os.environ["REDIS_URL"])  # the tutorial: Redis(host="localhost", ...)
queue = Queue("default", connection=redis_conn)


def generate_report(user_id: int):
    """模擬產生 PDF 報表的耗時工作"""
    logging.info(f"Start generating report for user {user_id}")
    time.sleep(8)
    logging.info(f"Report for user {user_id} completed")
    return f"/tmp/report_{user_id}.pdf"


# 啟動 worker 時使用
if __name__ == "__main__":
    worker = Worker([queue], connection=redis_conn)  # step 1: connection= instead of Connection
    worker.work()
