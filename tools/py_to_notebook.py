"""Author a notebook from a percent-format script: `py_to_notebook.py src.py out.ipynb`.

Cells start with `# %%` (code) or `# %% [markdown]` (markdown, each line prefixed `# `);
`# %% tags=["raises-exception"]` sets cell tags. Handy for writing a chapter in an editor;
the committed .ipynb is the source of truth afterwards (edit it in JupyterLab).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nbformat


def convert(text: str) -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata = {
        "kernelspec": {
            "display_name": "Python 3 (workbook)",
            "language": "python",
            "name": "python3",
        },
    }
    for chunk in re.split(r"^# %%", text, flags=re.M)[1:]:
        header, _, body = chunk.partition("\n")
        tags = json.loads(m[1]) if (m := re.search(r"tags=(\[.*?\])", header)) else []
        if "[markdown]" in header:
            lines = [re.sub(r"^# ?", "", line) for line in body.strip("\n").splitlines()]
            cell = nbformat.v4.new_markdown_cell("\n".join(lines))
        else:
            cell = nbformat.v4.new_code_cell(body.strip("\n"))
        if tags:
            cell.metadata["tags"] = tags
        cell.pop("id", None)
        notebook.cells.append(cell)
    for index, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{index:02d}"
    return notebook


if __name__ == "__main__":
    source, target = map(Path, sys.argv[1:3])
    nbformat.write(convert(source.read_text()), target)
    print(f"wrote {target}")
