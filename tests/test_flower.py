"""flower(): Celery's monitor as a child process on loopback, behind a login, replaced on re-run."""

from __future__ import annotations

import httpx
import pytest

import workbook as wb
from app_snippets.ch00_setup import quickstart_celery
from workbook import wait_for

TARGET = "app_snippets.ch00_setup.quickstart_celery:celery_app"


def test_flower_shows_workers_and_tasks_from_its_api(redis_server):
    worker = wb.celery_worker(TARGET, process=True, events=True)
    flower = wb.flower(quickstart_celery.celery_app)  # the app object works as well as its path
    assert flower.url.startswith("http://127.0.0.1:")
    assert TARGET in flower.argv and "--address=127.0.0.1" in flower.argv
    assert flower.client.get("/healthcheck").text == "OK"
    assert flower.client.get("/").status_code == 200  # the web UI
    workers = wait_for(lambda: flower.api("workers"))
    assert len(workers) == 1
    assert quickstart_celery.add.delay(2, 3).get(timeout=10) == 5
    tasks = wait_for(lambda: [t for t in flower.api("tasks").values() if t["state"] == "SUCCESS"])
    assert (
        tasks[0]["name"] == "app_snippets.ch00_setup.quickstart_celery.add"
        and tasks[0]["result"] == "5"
    )
    worker.stop()
    flower.stop()
    assert not flower.alive()
    with pytest.raises(httpx.ConnectError):
        httpx.get(flower.url + "/healthcheck", timeout=2)


def test_a_web_page_cannot_start_tasks_through_flower(redis_server):
    """What any page open in the learner's browser can send to 127.0.0.1: a "simple"
    cross-origin POST (text/plain, so no preflight), with and without the login (a browser
    that logged in to Flower before sends it along)."""
    worker = wb.celery_worker(TARGET, process=True)
    flower = wb.flower(TARGET)
    path = "/api/task/async-apply/app_snippets.ch00_setup.quickstart_celery.add"
    forged = {"Origin": "http://evil.example", "Content-Type": "text/plain"}
    body = '{"args": [2, 3]}'
    with httpx.Client(base_url=flower.url, trust_env=False, timeout=10) as browser:
        anonymous = browser.post(path, content=body, headers=forged)
        assert anonymous.status_code in (401, 403), anonymous.text
        logged_in = browser.post(
            path, content=body, headers=forged, auth=(flower.user, flower.password)
        )
        assert logged_in.status_code in (401, 403), logged_in.text
    assert flower.password in repr(flower) and flower.password in flower._repr_html_()
    # The same call from the notebook (same origin, with the login) works: the refusals
    # above were Flower's, not a broken route. Then the worker's log shows one task only.
    own = flower.client.post(path, json={"args": [2, 3]})
    assert own.status_code == 200, own.text
    assert quickstart_celery.celery_app.AsyncResult(own.json()["task-id"]).get(timeout=15) == 5
    received = wait_for(lambda: worker.logs(500).count("] received"))
    assert received == 1, worker.logs(500)


def test_flower_again_replaces_it_on_the_same_port(redis_server):
    first = wb.flower(TARGET)
    second = wb.flower(TARGET)
    assert second.port == first.port and not first.alive() and second.alive()
    second.kill()
    assert not second.alive()
    second.restart()
    assert second.client.get("/healthcheck").status_code == 200
    wb.stop_all()
    assert not second.alive()


def test_flower_for_an_app_that_cannot_be_imported_says_so(redis_server):
    with pytest.raises(wb.WorkbookError, match="could not import"):
        wb.flower("app_snippets.no_such_module:app")


def test_flower_refuses_a_port_in_use(redis_server):
    api = wb.serve(_tiny_app(), name="port holder")
    with pytest.raises(wb.WorkbookError, match=f"Port {api.port}"):
        wb.flower(TARGET, port=api.port)
    api.stop()


def _tiny_app():
    from fastapi import FastAPI

    return FastAPI(title="port holder")
