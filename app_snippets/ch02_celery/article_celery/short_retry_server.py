"""Serve the tutorial's app/main.py unchanged, but with its result backend retrying Redis
`retries` times instead of Celery's default 20 (notebook 02 times how long `.delay()` in the
tutorial's `async def register` freezes the server while Redis is down).

Run from this folder: python short_retry_server.py PORT RETRIES
"""

import sys

import uvicorn
from app.main import app, celery_app

port, retries = int(sys.argv[1]), int(sys.argv[2])
celery_app.conf.result_backend_transport_options = {"retry_policy": {"max_retries": retries}}
uvicorn.run(app, host="127.0.0.1", port=port)
