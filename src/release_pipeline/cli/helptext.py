"""How every `--help` is laid out: at most 100 columns, as the reports are, whatever runs it.

argparse wraps at the terminal's width, and with no terminal and no `COLUMNS` (a pipe, CI, a
pager) at 80, so one page wrapped at 80 or 100 depending on how it was read. Here the width
is the reports' 100 columns, narrower only on a narrower terminal (or `COLUMNS`). Text kept
as written (descriptions, examples, exit codes) is not wrapped: it is written to fit.
"""

from __future__ import annotations

import argparse
import shutil

from release_pipeline.cli.render import WIDTH


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Examples and exit codes as written; flags wrapped to the terminal, at most WIDTH
    (less argparse's own 2-column margin, as it takes it from a terminal's width)."""

    def __init__(self, prog: str) -> None:
        columns = shutil.get_terminal_size((WIDTH, 24)).columns
        super().__init__(prog, width=min(WIDTH, columns) - 2)
