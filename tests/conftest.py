"""Shared fixtures: fast demo pacing, a Redis for the session, nothing left running."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("DEMO_TIME_SCALE", "0.1")  # demos sleep a tenth as long under test
os.environ.setdefault("JUPYTER_PREFER_ENV_PATH", "1")  # the .venv kernel, not a user one
os.environ.pop("REDIS_URL", None)  # tests start their own Redis; a user's must not leak in
os.environ.pop("WORKBOOK_REDIS_URL", None)
# The shell checks' shared server ends a minute after the last one (a learner's: 15 minutes).
os.environ.setdefault("WORKBOOK_CHECK_SERVER_IDLE", "60")

import workbook as wb

# Teaching modules read REDIS_URL when imported, as production code does, and test modules
# import them at collection: so the session's Redis starts first. It keeps its address
# for the whole session, even across stop_all().
wb.start_redis()


@pytest.fixture
def redis_server():
    """The workbook's Redis, started (or reused) for this test."""
    return wb.start_redis()


@pytest.fixture(autouse=True, scope="module")
def _stop_everything_after_each_module():
    yield
    wb.stop_all()


# --- scheduling for `pytest -n N` (make test) ------------------------------------------------
# Most of the suite waits (sleeps, polls, process start-up), so it runs several tests at a time.
# The longest units start first and the short ones fill in around them. A module's tests stay
# together on one worker (one set-up of its module fixtures), except the exercise dev check's
# and the notebook runs', which are independent. (xdist's own --dist loadgroup cannot do this
# under pytest 9.2: it renames test ids through an attribute pytest no longer reads.)
# Seconds measured on a 2-core machine at DEMO_TIME_SCALE=0.1, four workers side by side (the
# clean-clone run of stop 17); they only order the queue.
NOTEBOOK_SECONDS = {"06": 325, "02": 240, "05": 150, "03": 105, "04": 90, "00": 45, "01": 40}
INDEPENDENT = ("tests/test_exercises.py", "tests/test_notebooks.py")
# The browser test saves notebook 00 in the working copy (Run All, then a save) and puts it back
# at the end; the tests that read the committed notebooks' bytes must not run meanwhile.
WORKING_COPY = ("tests/test_browser.py", "tests/test_git_filter.py")


def _queue_rank(item: pytest.Item) -> tuple[int, float]:
    if item.get_closest_marker("notebook"):
        number = item.name.partition("[")[2][:2]
        return (0, -NOTEBOOK_SECONDS.get(number, 150))  # a new chapter: about chapter 05's
    if item.path.name == "test_browser.py":
        return (1, 0)
    if item.path.name == "test_exercises.py":
        return (3, 0)  # many short checks: they fill the gaps at the end
    return (2, 0)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(key=_queue_rank)  # stable: the same order on every worker


try:
    from xdist.scheduler import LoadScopeScheduling
except ImportError:  # pytest-xdist is a test dependency; without it the suite runs serially
    pass
else:

    class ModuleOrTestScheduling(LoadScopeScheduling):
        """Units of work: a whole module, or a single test of an INDEPENDENT module; sent out
        in collection order (longest first), not xdist's biggest-unit-first."""

        def __init__(self, config: pytest.Config, log=None) -> None:
            super().__init__(config, log)
            config.option.loadscopereorder = False

        def _split_scope(self, nodeid: str) -> str:
            module, _, test = nodeid.partition("::")
            if module.endswith(WORKING_COPY) or (
                module.endswith("test_notebooks.py") and not test.startswith("test_runs_twice")
            ):
                return "the working copy's notebooks"
            return nodeid if module.endswith(INDEPENDENT) else module

    def pytest_xdist_make_scheduler(config: pytest.Config, log):
        if config.getoption("dist") == "load":  # what -n N alone asks for
            return ModuleOrTestScheduling(config, log)
        return None


def pytest_sessionfinish(session: pytest.Session) -> None:
    """The shell checks' shared servers (workbook._exercises.shared_server) outlive their
    commands by design; the suite's end theirs (the controller's, once every worker is done)."""
    if not hasattr(session.config, "workerinput"):
        from workbook._exercises import shared_server

        shared_server.stop_all()
