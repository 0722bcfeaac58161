"""rq-dashboard, the web UI for RQ: queues, workers, and every job with its arguments.

rq-dashboard is a Flask (WSGI) app. Its usual form is its own process, bound to loopback
and behind a password: `rq-dashboard -b 127.0.0.1 -u $REDIS_URL -j --username ...`. Here
a2wsgi wraps it as an ASGI app, so that uvicorn (or a FastAPI mount) can serve it.

Its buttons requeue and delete jobs, so it gets a login, and writes from another site are
refused: loopback does not protect a server from a web page open in your own browser.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

import rq_dashboard
from a2wsgi import WSGIMiddleware
from flask import Flask, Response, request
from rq.serializers import JSONSerializer

from app_snippets.settings import redis_url


def create_dashboard(username: str, password: str) -> WSGIMiddleware:
    flask_app = Flask("rq_dashboard")
    flask_app.config["RQ_DASHBOARD_REDIS_URL"] = [redis_url()]
    flask_app.config["RQ_DASHBOARD_DISABLE_DELETE"] = True  # a read-mostly dashboard
    rq_dashboard.web.config.serializer = JSONSerializer  # what `rq-dashboard -j` sets
    flask_app.register_blueprint(rq_dashboard.blueprint, url_prefix="/rq")
    with flask_app.app_context():  # what the rq-dashboard CLI does; requeue and delete need it
        rq_dashboard.web.setup_rq_connection(flask_app)

    @flask_app.before_request
    def logged_in_and_same_site() -> Response | None:
        auth = request.authorization
        if not (
            auth
            and hmac.compare_digest(auth.username or "", username)
            and hmac.compare_digest(auth.password or "", password)
        ):
            return Response("Log in", 401, {"WWW-Authenticate": 'Basic realm="rq-dashboard"'})
        # A browser sends the login with every request to this site, even one a page of
        # another site makes (`GET /rq/requeue/<queue>` requeues a whole queue): refuse those.
        origin = request.headers.get("Origin")
        cross_site = request.headers.get("Sec-Fetch-Site", "same-origin") not in (
            "same-origin",
            "none",
        )
        if cross_site or (origin and urlsplit(origin).netloc != request.host):
            return Response("Cross-site request refused", 403)
        return None

    return WSGIMiddleware(flask_app)
