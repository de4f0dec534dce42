"""Progress on stderr for long inputs: rows (and share of the file where it is known).

Shown only when stderr is a terminal, ``--quiet`` is not given, and the run has lasted more than
:data:`DELAY` seconds, so short runs and pipelines print nothing extra.
"""

from __future__ import annotations

import sys
import time
from typing import Any

DELAY = 1.0


class ProgressReporter:
    """A callback ``(rows_done, total_rows)`` that draws a Rich progress bar after a delay."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
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
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("rows"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task("rows", total=total_rows)
        self._progress.update(self._task, completed=rows_done)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
