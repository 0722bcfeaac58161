"""Write environment.yml (the conda route) from pyproject.toml and requirements.lock.

`make lock` runs it. Each direct dependency is pinned to the lock's version for the conda
environment's Python, with pyproject's comment saying what uses it; then the whole lock is
installed, so conda users get exactly the set CI tested.
"""

from __future__ import annotations

import re
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
PYTHON = "3.11"
ENVIRONMENT = {
    "python_version": PYTHON, "python_full_version": PYTHON + ".0", "sys_platform": "linux",
    "platform_system": "Linux", "implementation_name": "cpython",
    "platform_python_implementation": "CPython", "os_name": "posix", "platform_machine": "x86_64",
}  # fmt: skip


def locked() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)\s*(?:;\s*(.+))?$", line)
        if match and (not match[3] or Marker(match[3]).evaluate(ENVIRONMENT)):
            pins[match[1].lower()] = match[2]
    return pins


def main() -> None:
    pins = locked()
    lines = []
    for match in re.finditer(
        r'^\s*"([^"]+)",\s*#\s*(.+)$', (ROOT / "pyproject.toml").read_text(), re.M
    ):
        requirement = Requirement(match[1])
        if requirement.marker and not requirement.marker.evaluate(ENVIRONMENT):
            continue
        extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
        pin = f"{requirement.name}{extras}=={pins[requirement.name.lower()]}"
        lines.append(f"      - {pin:<34} # {match[2].strip()}")
    text = f"""# The conda route to the same locked set as `make install`:
#   conda env create -f environment.yml && conda activate fastapi-workbook
#   python -m ipykernel install --sys-prefix --name python3
#   python tools/bootstrap.py --lab-settings-only
#   workbook lab
# Written by `make lock` from pyproject.toml and requirements.lock: do not edit by hand.
name: fastapi-workbook
channels:
  - conda-forge
dependencies:
  - python={PYTHON}
  - pip
  - pip:
{chr(10).join(lines)}
      - -r requirements.lock               # every other package, as locked
      - -e .                               # the workbook package and app_snippets
"""
    (ROOT / "environment.yml").write_text(text)
    print("wrote environment.yml")


if __name__ == "__main__":
    main()
