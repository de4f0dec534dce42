"""Labels kept in a separate file (``--labels FILE``), joined to the predictions.

With ``--id-col`` present in both files, rows are joined on the id (every prediction row needs
exactly one label row; duplicate ids in the labels file are an error). Without it, rows are
paired in order, and both inputs must have the same number of rows. The labels file is read
whole (labels are small next to predictions); the predictions still stream.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ce_cli.errors import InputFormatError, LabelError, MissingColumnError
from ce_cli.io.source import Source


def join_labels(predictions: Source, labels: Source, id_column: str | None) -> Source:
    """A source whose batches are the prediction batches with the label file's columns added."""
    table = pa.Table.from_batches(list(labels.batches()), schema=labels.schema)
    by_id = id_column is not None and id_column in labels.schema.names
    if id_column is not None and not by_id:
        raise MissingColumnError(
            "the labels file has no id column to join on",
            file=labels.name,
            column=id_column,
            hint="add it, or leave out --id-col to pair rows in order",
        )
    added = [n for n in table.column_names if not (by_id and n == id_column)]
    clash = [n for n in added if n in predictions.schema.names]
    if clash:
        raise InputFormatError(
            "the labels file repeats a column of the predictions file",
            file=labels.name,
            column=clash[0],
            hint="drop it from one of the files",
        )
    schema = predictions.schema
    for name in added:
        schema = schema.append(table.schema.field(name))
    keys = table.column(id_column) if by_id else None
    if keys is not None and pc.count_distinct(keys).as_py() != len(keys):
        counts = pc.value_counts(keys)
        dup = next(c["values"] for c in counts.to_pylist() if c["counts"] > 1)
        raise LabelError(
            "an id appears twice in the labels file",
            file=labels.name,
            column=id_column,
            value=dup,
        )

    def stream(columns: Sequence[str] | None, floats: Sequence[str]) -> Iterator[pa.RecordBatch]:
        wanted = None if columns is None else [c for c in columns if c not in added]
        if wanted is not None and id_column is not None and by_id and id_column not in wanted:
            wanted.append(id_column)
        offset = 0
        for batch in predictions.batches(wanted, floats):
            if keys is not None:
                assert id_column is not None
                positions = pc.index_in(batch.column(id_column), value_set=keys)
                if positions.null_count:
                    valid = np.asarray(positions.is_valid().to_numpy(zero_copy_only=False))
                    row = int(np.argmin(valid))
                    raise LabelError(
                        "this id has no row in the labels file",
                        file=predictions.name,
                        column=id_column,
                        row=offset + row + 1,
                        value=batch.column(id_column)[row].as_py(),
                        hint=f"every prediction needs a label in {labels.name}",
                    )
                part = table.take(positions)
            else:
                if offset + batch.num_rows > table.num_rows:
                    raise InputFormatError(
                        f"the labels file has {table.num_rows} rows but the predictions have more",
                        file=labels.name,
                        hint="pair them with --id-col, or give files with the same rows",
                    )
                part = table.slice(offset, batch.num_rows)
            for name in added:
                if columns is None or name in columns:
                    batch = batch.append_column(
                        table.schema.field(name), part.column(name).combine_chunks()
                    )
            if columns is not None:
                batch = batch.select(list(columns))
            offset += batch.num_rows
            yield batch
        if keys is None and offset != table.num_rows:
            raise InputFormatError(
                f"the labels file has {table.num_rows} rows but the predictions have {offset}",
                file=labels.name,
                hint="pair them with --id-col, or give files with the same rows",
            )

    def close() -> None:
        predictions.close()
        labels.close()

    return Source(
        predictions.name, predictions.format, schema, stream, _cleanup=close, text_checked=True
    )
