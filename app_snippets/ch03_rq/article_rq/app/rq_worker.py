# app/rq_worker.py
# A typical tutorial's RQ worker, reproduced as it is printed (notebook 03 runs it and fixes
# it). One change: where Redis lives (the tutorial: Redis(host="localhost", port=6379, db=0);
# here REDIS_URL, the workbook's own Redis). Start, from the folder holding app/:
#   python app/rq_worker.py
import os, time, logging
from redis import Redis
from rq import Queue, Worker, Connection

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
    with Connection(redis_conn):
        worker = Worker([queue])
        worker.work()
