"""Progress on stderr for long inputs: rows and bytes, and the share done where it is known.

Shown only when stderr is a terminal, ``--quiet`` is not given, and the run has lasted more than
:data:`DELAY` seconds, so short runs and pipelines print nothing extra. Bytes are the file's
size scaled by the share of rows done when the row count is known (Parquet, Arrow), else the
file's size alone (CSV and JSON Lines do not say how many rows they hold).
"""

from __future__ import annotations

import sys
import time
from typing import Any

DELAY = 1.0


def bytes_text(rows_done: int, total_rows: int | None, size_bytes: int | None) -> str:
    """The bytes column: ``"120.0/598.0 MB"``, or the file's size when the share is unknown.

    >>> bytes_text(250, 1000, 598_000_000), bytes_text(250, None, 84_000_000)
    ('149.5/598.0 MB', '84.0 MB file')
    """
    if size_bytes is None:
        return ""
    if not total_rows:
        return f"{size_bytes / 1e6:.1f} MB file"
    done = size_bytes * min(rows_done, total_rows) / total_rows
    return f"{done / 1e6:.1f}/{size_bytes / 1e6:.1f} MB"


class ProgressReporter:
    """A callback ``(rows_done, total_rows)`` that draws a Rich progress bar after a delay;
    ``size_bytes`` is the input file's size, for the bytes column."""

    def __init__(self, enabled: bool, size_bytes: int | None = None) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.size_bytes = size_bytes
        self.start = time.monotonic()
        self._progress: Any = None
        self._task: Any = None

    def __call__(self, rows_done: int, total_rows: int | None) -> None:
        if not self.enabled:
            return
        if self._progress is None:
            if time.monotonic() - self.start < DELAY:
                return
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("[bold]ce-eval[/] reading"),
                BarColumn(bar_width=24),
                MofNCompleteColumn(),
                TextColumn("rows"),
                TextColumn("{task.fields[bytes]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task("rows", total=total_rows, bytes="")
        self._progress.update(
            self._task,
            completed=rows_done,
            bytes=bytes_text(rows_done, total_rows, self.size_bytes),
        )

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
