"""The set-up files agree with each other, and the public API is what DESIGN.md documents."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

import workbook

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PUBLIC = {
    "WorkbookError", "celery_worker", "doctor", "dramatiq_worker", "exercise", "exercises",
    "expect_error",
    "flower",
    "round_trip",
    "rq_cron",
    "rq_worker",
    "run_command",
    "serve", "show", "start_redis", "stop_all", "timed", "wait_for",
}  # fmt: skip


def direct_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]["test"]
    return [Requirement(line) for line in project["dependencies"] + extras]


def lock_pins() -> dict[str, list[tuple[str, str]]]:
    """{name: [(version, marker or ""), ...]} from requirements.lock."""
    pins: dict[str, list[tuple[str, str]]] = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)\s*(?:;\s*(.+))?$", line)
        if match:
            pins.setdefault(match[1].lower(), []).append((match[2], match[3] or ""))
    return pins


def test_public_api_is_exactly_the_documented_names():
    assert set(workbook.__all__) == PUBLIC
    assert workbook.__all__ == sorted(workbook.__all__)
    for name in PUBLIC:
        assert getattr(workbook, name).__doc__, f"workbook.{name} needs a docstring"


def test_every_direct_dependency_is_locked_within_its_range():
    pins = lock_pins()
    for requirement in direct_requirements():
        name = requirement.name.lower()
        assert name in pins, f"{name} is in pyproject.toml but not in requirements.lock"
        for version, _marker in pins[name]:
            assert requirement.specifier.contains(version), (
                f"requirements.lock pins {name}=={version}, outside pyproject's {requirement}"
            )


def test_environment_yml_pins_what_the_lock_pins():
    text = (ROOT / "environment.yml").read_text()
    python = re.search(r"^\s*- python=(\d+\.\d+)", text, re.M)
    assert python, "environment.yml must pin python"
    assert "- -r requirements.lock" in text, "environment.yml must install the whole lock"
    env_pins = dict(re.findall(r"^\s*- ([A-Za-z0-9_.\-\[\]]+)==(\S+)\s+# \S", text, re.M))
    env_pins = {re.sub(r"\[.*\]", "", k).lower(): v for k, v in env_pins.items()}
    pins = lock_pins()
    for requirement in direct_requirements():
        name = requirement.name.lower()
        if requirement.marker and not _marker_holds(str(requirement.marker), python[1]):
            continue
        assert name in env_pins, f"environment.yml lacks {name} (with a comment on what uses it)"
        versions = [v for v, marker in pins[name] if _marker_holds(marker, python[1])]
        assert env_pins[name] in versions, (
            f"environment.yml pins {name}=={env_pins[name]}, the lock has {versions}"
        )


def _marker_holds(marker: str, python: str) -> bool:
    from packaging.markers import Marker

    if not marker:
        return True
    return Marker(marker).evaluate(
        {"python_version": python, "python_full_version": python + ".0", "sys_platform": "linux",
         "platform_system": "Linux", "implementation_name": "cpython",
         "platform_python_implementation": "CPython", "os_name": "posix"}
    )  # fmt: skip


def test_readme_lists_every_exercise_as_the_metadata_does():
    from workbook._exercises.model import load

    readme = (ROOT / "README.md").read_text()
    rows = re.findall(r"^\| (ex\d\d) \| (\d\d) \| (.+?) \| `(.+?)` \|$", readme, re.M)
    expected = [(m.id, Path(m.notebook).name[:2], m.title, m.file) for m in load()]
    assert rows == expected, "the README's exercise table differs from exercises/exercises.toml"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make lab" in readme and "make test" in readme
    ci = (ROOT / ".ci/run").read_text()
    assert re.search(r"^make test$", ci, re.M)


@pytest.mark.parametrize("folder", ["app_snippets"])
def test_teaching_code_never_imports_the_machinery(folder):
    for path in (ROOT / folder).rglob("*.py"):
        assert not re.search(r"^\s*(import|from) workbook", path.read_text(), re.M), (
            f"{path.relative_to(ROOT)} imports workbook: teaching code must run without it"
        )
