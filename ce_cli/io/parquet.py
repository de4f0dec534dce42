"""Parquet inputs: one file, several files, or a directory read as one dataset, streamed by row
group with large column chunks read through a buffer, so memory follows our batch size."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa

from ce_cli.errors import (
    InputFormatError,
    MissingColumnError,
)
from ce_cli.io.batching import batch_rows
from ce_cli.io.remote import input_file
from ce_cli.io.source import (
    Source,
    _check_schema,
    _first_line,
)

# Every Parquet column chunk is read through a buffer of this size. Unbuffered, pyarrow reads a
# whole column chunk at once, and a row group's chunks of every selected column stay in memory
# until the row group is done: memory then follows the writer's row-group size (100 float32
# columns in row groups of 1,048,576 rows: 400 MB of chunks), not ours. Buffered, a column holds
# its current page and dictionary (about 2 MB a column for pyarrow's default 1 MiB pages), and a
# page larger than the buffer is read in one call, so the buffer only serves the small reads
# (page headers): 8 KiB to 1 MiB read a 4 GB file in the same CPU time.
PARQUET_BUFFER_BYTES = 64 << 10


def _parquet_values_per_row(metadata: Any, columns: Sequence[str] | None) -> float:
    """Values a row of the selected columns holds (the largest over the row groups), from the
    file's metadata alone: a list column's leaf counts every element."""
    worst = 1.0
    for g in range(metadata.num_row_groups):
        group = metadata.row_group(g)
        if group.num_rows == 0:
            continue
        total = 0
        for j in range(group.num_columns):
            chunk = group.column(j)
            top = chunk.path_in_schema.split(".", 1)[0]
            if columns is None or top in columns:
                total += max(chunk.num_values, group.num_rows)
        worst = max(worst, total / group.num_rows)
    return worst


def _parquet_buffer(metadata: Any) -> int:
    """The read buffer of every column chunk: :data:`PARQUET_BUFFER_BYTES`, or the largest
    chunk where every chunk is smaller (never 0, which would read each chunk whole)."""
    largest = 1
    for g in range(metadata.num_row_groups):
        group = metadata.row_group(g)
        for j in range(group.num_columns):
            largest = max(largest, group.column(j).total_compressed_size)
    return min(PARQUET_BUFFER_BYTES, largest)


def _open_parquet(path: str, name: str) -> Source:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(input_file(path), pre_buffer=False)
        schema = pf.schema_arrow
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as exc:
        raise InputFormatError(
            f"not a readable Parquet file ({_first_line(exc)})",
            file=name,
            hint="check that the file is complete and really Parquet",
        ) from None

    def stream(columns: Sequence[str] | None, _floats: Sequence[str]) -> Iterator[pa.RecordBatch]:
        metadata = pf.metadata
        reader = pq.ParquetFile(
            input_file(path), pre_buffer=False, buffer_size=_parquet_buffer(metadata)
        )
        yield from reader.iter_batches(
            batch_size=batch_rows(_parquet_values_per_row(metadata, columns)),
            columns=list(columns) if columns is not None else None,
        )

    return Source(name, "parquet", schema, stream, total_rows=pf.metadata.num_rows, files=(path,))


def _open_parquet_files(path: str) -> Source:
    """A directory (searched recursively) or glob of Parquet files, read as one dataset in
    sorted path order."""
    import glob

    if os.path.isdir(path):
        pattern = os.path.join(path, "**", "*.parquet")
        files = sorted(glob.glob(pattern, recursive=True))
        files += sorted(glob.glob(os.path.join(path, "**", "*.pq"), recursive=True))
    else:
        files = sorted(f for f in glob.glob(path, recursive=True) if os.path.isfile(f))
    if not files:
        raise InputFormatError(
            "no Parquet files there" if os.path.isdir(path) else "the pattern matches no file",
            file=path,
            hint="a directory of .parquet files, or a glob such as 'parts/*.parquet'",
        )
    source = _parquet_dataset(path, files)
    source.size_bytes = sum(os.path.getsize(f) for f in files)
    return source


def _parquet_dataset(path: str, files: list[str]) -> Source:
    """Parquet files (paths or URLs) read as one dataset, in the order given."""
    parts = [_open_parquet(f, f) for f in files]
    for part in parts:
        _check_schema(part)
    schema = parts[0].schema
    first = parts[0].name
    known = set(schema.names)
    for part in parts[1:]:
        names = set(part.schema.names)
        missing = [n for n in schema.names if n not in names]
        if missing:
            raise MissingColumnError(
                f"this part of the dataset lacks a column that {first} has",
                file=part.name,
                column=missing[0],
                hint=f"every file matched by {path} needs the same columns",
            )
        extra = [n for n in part.schema.names if n not in known]
        if extra:
            raise InputFormatError(
                f"this part of the dataset has a column that {first} lacks",
                file=part.name,
                column=extra[0],
                hint=f"every file matched by {path} needs the same columns",
            )
        for field in schema:
            other = part.schema.field(field.name).type
            if other != field.type:
                raise InputFormatError(
                    f"this part of the dataset holds {other} where {first} holds {field.type}",
                    file=part.name,
                    column=field.name,
                    hint=f"write every file matched by {path} with the same column types",
                )

    def stream(columns: Sequence[str] | None, floats: Sequence[str]) -> Iterator[pa.RecordBatch]:
        for part in parts:
            for batch in part.batches(columns, floats):
                yield batch if columns is None else batch.select(list(columns))

    source = Source(path, "parquet", schema, stream, text_checked=True, files=tuple(files))
    source.total_rows = sum(p.total_rows or 0 for p in parts)
    return source
