"""`workbook ...` (the console script; `python -m workbook` is the same): the doctor, the
exercise commands and `workbook lab`."""

from __future__ import annotations

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
