"""rq-dashboard, the web UI for RQ: queues, workers, and every job with its arguments.

rq-dashboard is a Flask (WSGI) app. Its usual form is its own process, bound to loopback
and behind a password: `rq-dashboard -b 127.0.0.1 -u $REDIS_URL -j --username ...`. Here
a2wsgi wraps it as an ASGI app, so that uvicorn (or a FastAPI mount) can serve it.
"""

from __future__ import annotations

import rq_dashboard
from a2wsgi import WSGIMiddleware
from flask import Flask
from rq.serializers import JSONSerializer

from app_snippets.settings import redis_url


def create_dashboard() -> WSGIMiddleware:
    flask_app = Flask("rq_dashboard")
    flask_app.config["RQ_DASHBOARD_REDIS_URL"] = [redis_url()]
    flask_app.config["RQ_DASHBOARD_DISABLE_DELETE"] = True  # a read-mostly dashboard
    rq_dashboard.web.config.serializer = JSONSerializer  # what `rq-dashboard -j` sets
    flask_app.register_blueprint(rq_dashboard.blueprint, url_prefix="/rq")
    return WSGIMiddleware(flask_app)
