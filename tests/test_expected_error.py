"""wb.expect_error in a real kernel: an expected error is still raised but shown short (type,
message, the learner's lines); any other error keeps IPython's full traceback."""

from __future__ import annotations

import re
import textwrap

import pytest
from kernels import start_kernel

ANSI = re.compile(r"\x1b\[[0-9;]*m")

# A learner's module: its error is raised while handling another one (a chain of two).
LEARNER_MODULE = """
import json


def load_settings(text):
    try:
        return json.loads(text)
    except ValueError as error:
        raise RuntimeError("settings are not valid JSON") from error  # no "#" in here
"""


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    folder = tmp_path_factory.mktemp("learner")
    (folder / "learner_settings.py").write_text(LEARNER_MODULE)
    manager, client = start_kernel()
    execute(client, f"import sys; sys.path.insert(0, {str(folder)!r}); import workbook as wb")
    yield client
    client.stop_channels()
    manager.shutdown_kernel(now=True)


def execute(client, code: str) -> dict:
    """Run `code`; return its reply status, error output (ANSI colours removed) and stderr."""
    error, stderr = None, []

    def hook(msg):
        nonlocal error
        if msg["msg_type"] == "error":
            error = msg["content"]
        elif msg["msg_type"] == "stream" and msg["content"]["name"] == "stderr":
            stderr.append(msg["content"]["text"])

    reply = client.execute_interactive(textwrap.dedent(code), timeout=60, output_hook=hook)
    shown = ANSI.sub("", "\n".join(error["traceback"])) if error else ""
    return {
        "status": reply["content"]["status"],
        "ename": error and error["ename"],
        "shown": shown,
        "stderr": "".join(stderr),
    }


def test_an_expected_error_shows_type_message_and_the_learners_lines(kernel):
    out = execute(
        kernel,
        """
        from learner_settings import load_settings

        with wb.expect_error(RuntimeError):
            load_settings("{not json")
        """,
    )
    assert out["status"] == "error" and out["ename"] == "RuntimeError"  # still a raised error
    lines = out["shown"].splitlines()
    assert lines[0] == "RuntimeError: settings are not valid JSON", out["shown"]
    assert re.search(r"Cell In\[\d+\], line 4: load_settings\(\"\{not json\"\)", out["shown"])
    raising = 'raise RuntimeError("settings are not valid JSON") from error'  # its comment cut
    assert f"learner_settings.py, line 9: {raising}\n" in out["shown"]
    # Not the chain, nor the library frames: the JSONDecodeError and json's own files.
    assert "JSONDecodeError" not in out["shown"] and "json/decoder.py" not in out["shown"]
    assert "During handling" not in out["shown"] and "direct cause" not in out["shown"]
    assert len(lines) == 4, out["shown"]


def test_tb_afterwards_shows_the_whole_chain(kernel):
    execute(kernel, 'with wb.expect_error(RuntimeError):\n    load_settings("[")')
    out = execute(kernel, "%tb")
    assert "JSONDecodeError" in out["shown"] and "direct cause" in out["shown"]


def test_an_error_raised_inside_a_library_names_the_cell_line_that_called_it(kernel):
    code = "import json\n\nwith wb.expect_error(TypeError):\n    json.dumps(object())"
    out = execute(kernel, code)
    assert out["shown"].startswith("TypeError: Object of type object is not JSON serializable")
    assert re.search(r"Cell In\[\d+\], line 4: json\.dumps\(object\(\)\)", out["shown"])
    assert "encoder.py" not in out["shown"]


def test_an_error_of_another_kind_keeps_its_full_traceback(kernel):
    out = execute(kernel, "with wb.expect_error(KeyError):\n    load_settings('{')")
    assert out["status"] == "error" and out["ename"] == "RuntimeError"
    assert "Traceback (most recent call last)" in out["shown"]
    assert "JSONDecodeError" in out["shown"] and "shown short" not in out["shown"]


def test_errors_outside_it_keep_their_full_traceback(kernel):
    out = execute(kernel, "load_settings('{')")
    assert "Traceback (most recent call last)" in out["shown"] and "shown short" not in out["shown"]


def test_nothing_raised_is_said_and_the_cell_succeeds(kernel):
    out = execute(kernel, "with wb.expect_error(ValueError):\n    pass")
    assert out["status"] == "ok"
    assert "Expected ValueError here, but nothing was raised" in out["stderr"]


def test_a_fault_in_the_short_display_shows_the_full_traceback_instead(kernel):
    execute(kernel, "from workbook import _expected\nreal = _expected.short_traceback")
    execute(kernel, "_expected.short_traceback = 0")  # calling 0 raises inside the hook
    try:
        out = execute(kernel, "with wb.expect_error(RuntimeError):\n    load_settings('{')")
    finally:
        execute(kernel, "_expected.short_traceback = real")
    assert out["ename"] == "RuntimeError" and "Traceback (most recent call last)" in out["shown"]
    assert "JSONDecodeError" in out["shown"]
    assert "Unexpected exception formatting" not in out["shown"]
