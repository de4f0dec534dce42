"""How big a record batch is: sized by values, not rows (at most BATCH_ROWS rows, about
BATCH_VALUES values), a function of the data's width alone; and streams cut or regrouped to it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pyarrow as pa

# Batches are sized by values, not rows: at most BATCH_ROWS rows and, where a row holds more
# than BATCH_VALUES / BATCH_ROWS values (a 32k-vocabulary list column), about BATCH_VALUES
# values, so a batch's memory is bounded whatever the width (a 256k vocabulary: 16 rows, 16 MB
# of float32). The size is a function of the data alone (its width), never of the machine.
BATCH_ROWS = 65_536


BATCH_VALUES = 1 << 22


def batch_rows(values_per_row: float) -> int:
    """Rows in a batch whose rows hold ``values_per_row`` values each: :data:`BATCH_ROWS`, or
    fewer, so a batch holds at most about :data:`BATCH_VALUES` values."""
    return max(1, min(BATCH_ROWS, int(BATCH_VALUES // max(values_per_row, 1.0))))


def values_per_row(batch: pa.RecordBatch | pa.Table) -> float:
    """The numbers a row of ``batch`` holds on average: 1 a plain column, a list's length."""
    import pyarrow.compute as pc  # ~25 ms to import: only where used

    n = batch.num_rows
    if n == 0:
        return float(batch.num_columns)
    total = 0
    for column in batch.columns:
        t = column.type
        if pa.types.is_fixed_size_list(t):
            total += n * int(t.list_size)
        elif pa.types.is_list(t) or pa.types.is_large_list(t):
            total += int(pc.sum(pc.list_value_length(column)).as_py() or 0)
        else:
            total += n
    return float(total / n)


def sliced(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Each batch cut (zero-copy) into pieces of at most :func:`batch_rows` rows for its
    width: Arrow files and in-memory tables keep the batches they were written in."""
    for batch in batches:
        rows = batch_rows(values_per_row(batch))
        if batch.num_rows <= rows:
            yield batch
            continue
        for start in range(0, batch.num_rows, rows):
            yield batch.slice(start, rows)


def _rebatched(batches: Iterable[pa.RecordBatch], rows: int) -> Iterator[pa.RecordBatch]:
    """The stream in batches of exactly ``rows`` rows (the last one shorter), as a file read
    whole is cut (:func:`_batches_of`), so both give the same report: a parse block makes a
    batch of a few thousand rows, each worth too little work."""
    pending: list[pa.RecordBatch] = []
    held = 0
    for batch in batches:
        pending.append(batch)
        held += batch.num_rows
        if held >= rows:
            table = pa.Table.from_batches(pending)
            whole = held - held % rows
            yield from _batches_of(table.slice(0, whole), rows)
            pending = table.slice(whole).to_batches()  # views; joined with the next ones
            held -= whole
    if held:
        yield from _batches_of(pa.Table.from_batches(pending), rows)


def _batches_of(table: pa.Table, rows: int) -> Iterator[pa.RecordBatch]:
    """The table in record batches of ``rows`` rows (the last one shorter), whatever its chunks:
    small parse blocks would otherwise make as many small batches."""
    for start in range(0, table.num_rows, rows):
        # Joining copies only where the slice spans several chunks.
        yield from table.slice(start, rows).combine_chunks().to_batches()
