"""The tutorial this workbook answers is reproduced faithfully in app_snippets/chNN_*/article_*.

Chapters 02-04 run those files as the tutorial says and show where they break. If a
refactor "fixed" the reproduction (or dropped the call that breaks), the chapter would test
a tutorial that does not exist: each of the tutorial's calls, names and start commands that
the chapters rely on must still be there, in the file and in the notebook that runs it.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
SNIPPETS = ROOT / "app_snippets"

# (file, the tutorial's own lines, exactly as it prints them)
TUTORIAL_CODE = [
    ("ch02_celery/article_celery/app/main.py", [
        "celery_app = Celery(",
        "@celery_app.task",
        "def send_welcome_email(user_id: int, email: str):",
        "time.sleep(5)",
        '@app.post("/register")',
        "async def register(username: str, email: str, background: BackgroundTasks):",
        "send_welcome_email.delay(user_id=123, email=email)",
    ]),
    ("ch03_rq/article_rq/app/rq_worker.py", [
        "from rq import Queue, Worker, Connection",
        'queue = Queue("default", connection=redis_conn)',
        "def generate_report(user_id: int):",
        "time.sleep(8)",
        "with Connection(redis_conn):",
        "worker = Worker([queue])",
    ]),
    ("ch03_rq/article_rq/app/main.py", [
        "from rq_worker import generate_report",
        '@app.post("/report/{user_id}")',
        "job = queue.enqueue(generate_report, user_id)",
        'return {"job_id": job.get_id(), "status": "queued"}',
    ]),
    ("ch04_dramatiq/article_dramatiq/app/dramatiq_worker.py", [
        "dramatiq.set_broker(redis_broker)",
        "@dramatiq.actor",
        "def resize_image(image_path: str, size: tuple):",
        "time.sleep(4)",
    ]),
    ("ch04_dramatiq/article_dramatiq/app/main.py", [
        "from app.dramatiq_worker import resize_image",
        '@app.post("/upload")',
        "async def upload_image(file: UploadFile = File(...)):",
        'tmp_path = f"/tmp/{file.filename}"',
        "resize_image.send(tmp_path, (200, 200))",
    ]),
]  # fmt: skip

# The tutorial's start commands, run by the chapter that answers it, in the folder of app/.
COMMANDS = [
    (
        "02_celery.ipynb",
        "celery -A app.main.celery_app worker --loglevel=info",
        "ch02_celery/article_celery",
    ),
    ("02_celery.ipynb", "uvicorn app.main:app", "ch02_celery/article_celery"),
    ("03_rq.ipynb", "python app/rq_worker.py", "ch03_rq/article_rq"),
    ("03_rq.ipynb", "uvicorn app.main:app", "ch03_rq/article_rq"),
    ("04_dramatiq.ipynb", "dramatiq app.dramatiq_worker", "ch04_dramatiq/article_dramatiq"),
    ("04_dramatiq.ipynb", "uvicorn app.main:app", "ch04_dramatiq/article_dramatiq"),
]


def code_lines(path: Path) -> set[str]:
    return {line.strip() for line in path.read_text().splitlines()}


@pytest.mark.parametrize(("file", "calls"), TUTORIAL_CODE, ids=[f for f, _ in TUTORIAL_CODE])
def test_the_reproduction_keeps_every_call_of_the_tutorial(file, calls):
    lines = code_lines(SNIPPETS / file)
    missing = [call for call in calls if not any(line.startswith(call) for line in lines)]
    assert not missing, f"app_snippets/{file} no longer has the tutorial's {missing}: restore them"


@pytest.mark.parametrize(("file", "_"), TUTORIAL_CODE, ids=[f for f, _ in TUTORIAL_CODE])
def test_the_only_change_is_where_redis_lives(file, _):
    text = (SNIPPETS / file).read_text()
    assert "localhost" not in "".join(line.split("#")[0] for line in text.splitlines())
    imports = [line for line in text.splitlines() if line.startswith(("import ", "from "))]
    assert not [line for line in imports if "app_snippets" in line or "workbook" in line]
    assert "REDIS_URL" in text or file.endswith("dramatiq/app/main.py")


@pytest.mark.parametrize(("notebook", "command", "folder"), COMMANDS)
def test_each_chapter_runs_the_tutorial_as_it_says(notebook, command, folder):
    source = "\n".join(
        c.source for c in nbformat.read(ROOT / "notebooks" / notebook, as_version=4).cells
    )
    assert f'wb.run_command("{command}' in source, f"{notebook} should run `{command}`"
    assert f"app_snippets/{folder}" in source or f'"{folder}"' in source


@pytest.mark.parametrize("notebook", ["02_celery.ipynb", "03_rq.ipynb", "04_dramatiq.ipynb"])
def test_the_chapters_name_the_tutorial_and_no_invented_article(notebook):
    cells = nbformat.read(ROOT / "notebooks" / notebook, as_version=4).cells
    prose = "\n".join(c.source for c in cells if c.cell_type == "markdown")
    assert "a typical tutorial" in prose
    invented = re.findall(r".{30}\b(?:the article|the seed|seed's)\b.{30}", prose, re.IGNORECASE)
    assert not invented, f"{notebook} attributes things to an 'article' or 'seed': {invented}"
