"""wb.run_command: a command line run in a folder, as typed in a terminal there."""

from __future__ import annotations

import sys

import pytest

import workbook as wb


def test_a_crash_comes_back_with_its_exit_code_and_output(tmp_path):
    (tmp_path / "boom.py").write_text("import sys\nprint('about to fail')\nsys.exit(3)\n")
    command = wb.run_command("python boom.py", cwd=tmp_path)
    assert command.returncode == 3 and "about to fail" in command.logs()


def test_it_runs_in_the_folder_with_the_venvs_python_and_no_project_path(tmp_path):
    script = "import os, sys; print(os.getcwd(), sys.executable, repr(os.environ['PYTHONPATH']))"
    command = wb.run_command(f'python -c "{script}"', cwd=tmp_path)
    cwd, executable, pythonpath = command.logs().split()
    assert cwd == str(tmp_path.resolve()) and pythonpath == "''"
    assert executable.startswith(sys.prefix)


def test_ready_text_a_port_and_stop(tmp_path):
    server = "python -m http.server {port} --bind 127.0.0.1"
    command = wb.run_command(server, cwd=tmp_path, ready="Serving HTTP")
    assert command.alive() and command.port and command.url.endswith(str(command.port))
    command.stop()
    assert not command.alive()


def test_no_ready_line_in_time_is_an_error_that_stops_it(tmp_path):
    with pytest.raises(wb.WorkbookError, match="printed no 'never printed' within 1 s"):
        wb.run_command("sleep 30", cwd=tmp_path, ready="never printed", timeout=1)


def test_a_missing_folder_is_named(tmp_path):
    with pytest.raises(wb.WorkbookError, match="no folder"):
        wb.run_command("true", cwd=tmp_path / "nope")
