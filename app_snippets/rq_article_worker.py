"""The seed article's worker script, as written, started as `python app/rq_worker.py`.

Two problems: `Connection` no longer exists (ImportError), and a script run by its path
puts its own folder first on sys.path, not the project root, so the worker cannot import
the job functions the app enqueued (every job fails with "Invalid attribute name").
Start the worker from the project root instead: `rq worker --url $REDIS_URL emails`.
"""

from redis import Redis
from rq import Connection, Queue, Worker  # RQ >= 2.0: ImportError

from app_snippets.settings import redis_url

redis_conn = Redis.from_url(redis_url())  # the article: Redis()

if __name__ == "__main__":
    with Connection(redis_conn):
        worker = Worker(map(Queue, ["default"]))
        worker.work()
