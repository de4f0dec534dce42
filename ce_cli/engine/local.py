"""The local driver: one process, the input read ahead on a thread, each batch on all cores.

It reads the decision window from the start of the stream and replays it (the input is read
once for the evaluation), then folds every batch into one running state in row order with the
pass's batch function. Later passes (temperature fitting; the label counts, which read only the
columns they need) read the source again: standard input was spooled to a file when it was
opened, so it reads again like a file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar

import pyarrow as pa

from ce_cli.engine.plan import Plan, decide_plan, start_plan
from ce_cli.engine.prefetch import prefetch
from ce_cli.io.source import Source
from ce_cli.resolve.converter import prediction_width, window_rows
from ce_cli.settings import Settings

S = TypeVar("S")
Step = Callable[[S, Plan, pa.RecordBatch, int], None]


class LocalDriver:
    """Runs passes over one opened :class:`~ce_cli.io.readers.Source` in this process."""

    # Batches are split over this process's thread pool (see ce_cli.engine.kernel.kernel).
    parallel = True

    def __init__(self, source: Source) -> None:
        self.source = source
        self._stream: Iterator[pa.RecordBatch] | None = None

    @property
    def name(self) -> str:
        return self.source.name

    @property
    def total_rows(self) -> int | None:
        return self.source.total_rows

    def plan(self, settings: Settings) -> Plan:
        """Decide the plan from the first rows; the stream is kept to replay them."""
        columns, converter = start_plan(self.source.schema, settings, self.source.name)
        batches = self.source.batches(columns.read_columns, columns.float_columns)
        window, self._stream = first_rows(
            prefetch(batches, depth=1), lambda first: window_rows(prediction_width(columns, first))
        )
        plan = decide_plan(self.source.name, settings, columns, converter, window)
        window.clear()  # the stream replays these; holding them would pin their buffers all run
        return plan

    def fold(
        self,
        plan: Plan,
        empty: Callable[[], S],
        step: Step[S],
        merge: Callable[[S, S], S],
        *,
        columns: Sequence[str] | None = None,
        on_batch: Callable[[S], None] | None = None,
    ) -> S:
        """One pass: ``step(state, plan, batch, row_offset)`` for every batch in row order into
        one state (``merge`` is not needed: a single running state). ``columns`` reads only
        those (the whole plan's columns by default)."""
        state = empty()
        for batch, first in numbered(self.batches(plan, columns)):
            step(state, plan, batch, first - 1)
            if on_batch is not None:
                on_batch(state)
        return state

    def batches(self, plan: Plan, columns: Sequence[str] | None = None) -> Iterator[pa.RecordBatch]:
        """A pass's stream of record batches, read ahead on a thread: the first pass with the
        plan's columns replays the rows :meth:`plan` read (the input is read once); any other
        reads the source again, only ``columns`` if given."""
        if columns is None and self._stream is not None:
            stream, self._stream = self._stream, None
            return stream
        read = plan.columns.read_columns if columns is None else list(columns)
        return prefetch(self.source.batches(read, plan.columns.float_columns))


def numbered(batches: Iterable[pa.RecordBatch]) -> Iterator[tuple[pa.RecordBatch, int]]:
    """Non-empty batches with the 1-based input row number of their first row."""
    first = 1
    for batch in batches:
        if batch.num_rows:
            yield batch, first
            first += batch.num_rows


def first_rows(
    batches: Iterator[pa.RecordBatch], rows_for: Callable[[pa.RecordBatch], int]
) -> tuple[list[pa.RecordBatch], Iterator[pa.RecordBatch]]:
    """The first batches, up to ``rows_for(first batch)`` rows (split so the window is exactly
    that long), and the whole stream again (the window's batches first, released as they are
    consumed). Only the window's batches are held: a wide input's window is a few rows."""
    window: list[pa.RecordBatch] = []
    held = 0
    rows: int | None = None
    rest: list[pa.RecordBatch] = []
    for batch in batches:
        if batch.num_rows == 0:
            continue
        if rows is None:
            rows = rows_for(batch)
        if held + batch.num_rows >= rows:
            take = rows - held
            window.append(batch.slice(0, take))
            rest = [batch.slice(take)] if take < batch.num_rows else []
            break
        window.append(batch)
        held += batch.num_rows

    def replay(queue: list[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        while queue:
            yield queue.pop(0)  # popped: nothing here keeps a consumed batch alive
        yield from batches

    return window, replay([*window, *rest])
