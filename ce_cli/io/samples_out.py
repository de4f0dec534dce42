"""Per-sample output (``--per-sample``): one row per input row, in input order.

Columns: the id column (when given), ``row`` (1-based), ``label``, ``loss`` (in the report's base),
``cross_entropy``, ``p_true`` (probability of the true class; binary: of the true outcome),
``predicted``, ``confidence``, ``correct``, ``entropy``, ``brier`` and (with ``--weight-col``)
``weight``; with ``--sequence-col``, ``sequence`` (the row's sequence id) after the id.
Multi-label rows have no single true class: they carry ``accuracy`` (fraction of labels right)
instead of ``p_true``/``predicted``. The format follows the extension (``.parquet``, ``.csv``,
``.csv.gz`` gzip-compressed, ``.jsonl``; ``-`` is CSV on stdout), the file is written
atomically, and text cells that a spreadsheet would run as a formula are quoted with a leading
apostrophe in CSV. ``--per-sequence`` (:class:`PerSequenceWriter`) writes the same formats.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pyarrow as pa

from ce_cli.core.sample_values import SampleValues
from ce_cli.errors import UsageError
from ce_cli.io.atomic import AtomicOutput

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def format_for(path: str, option: str = "--per-sample") -> str:
    """The per-sample format ``path`` asks for by its extension (``-``: CSV)."""
    lower = path.lower()
    if path == "-" or lower.endswith((".csv", ".csv.gz")):
        return "csv"
    if lower.endswith((".parquet", ".pq")):
        return "parquet"
    if lower.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    raise UsageError(
        f"{option} needs a .parquet, .csv or .jsonl path (or - for CSV on stdout)", value=path
    )


def neutralise_formula(text: str) -> str:
    """Prefix a cell a spreadsheet would evaluate (``=``, ``+``, ``-``, ``@``…) with ``'``.

    >>> neutralise_formula("=HYPERLINK(1)"), neutralise_formula("img-1")
    ("'=HYPERLINK(1)", 'img-1')
    """
    return "'" + text if text.startswith(_FORMULA_START) else text


class PerSampleWriter:
    """Streams per-sample tables to a temporary file; :meth:`commit` puts it in place."""

    def __init__(
        self,
        path: str,
        classes: tuple[str, ...],
        base_divisor: float,
        option: str = "--per-sample",
        text_column: str = "id",
    ) -> None:
        self.format = format_for(path, option)
        self.classes = np.asarray(classes, dtype=object)
        self.base_divisor = base_divisor
        self.text_column = text_column  # quoted against spreadsheet formulas in CSV
        self._out = AtomicOutput(path, option)
        self._writer: Any = None
        self._file: Any = None

    def table(
        self,
        values: SampleValues,
        row_numbers: np.ndarray,
        ids: pa.Array | None,
        weights: np.ndarray | None = None,
        sequences: pa.Array | None = None,
    ) -> pa.Table:
        columns: dict[str, Any] = {}
        if ids is not None:
            columns["id"] = ids
        if sequences is not None:
            columns["sequence"] = sequences
        columns["row"] = pa.array(np.asarray(row_numbers, dtype=np.int64))
        if values.true_class is not None and values.label_q is None:
            columns["label"] = pa.array(self.classes[values.true_class].astype(str))
        columns["loss"] = pa.array(values.loss / self.base_divisor)
        columns["cross_entropy"] = pa.array(values.cross_entropy / self.base_divisor)
        if values.label_q is None:
            assert values.true_prob is not None and values.predicted is not None
            columns["p_true"] = pa.array(values.true_prob)
            columns["predicted"] = pa.array(self.classes[values.predicted].astype(str))
            columns["confidence"] = pa.array(values.confidence)
            columns["correct"] = pa.array(values.correct.astype(bool))
        else:
            columns["accuracy"] = pa.array(values.correct)
            columns["confidence"] = pa.array(values.confidence)
        columns["entropy"] = pa.array(values.entropy / self.base_divisor)
        columns["brier"] = pa.array(values.brier)
        if weights is not None:
            columns["weight"] = pa.array(weights)
        return pa.table(columns)

    def write(
        self,
        values: SampleValues,
        row_numbers: np.ndarray,
        ids: pa.Array | None,
        weights: np.ndarray | None = None,
        sequences: pa.Array | None = None,
    ) -> None:
        """Append one batch; ``row_numbers`` are the rows' 1-based input row numbers."""
        self.write_table(self.table(values, row_numbers, ids, weights, sequences))

    def write_table(self, table: pa.Table) -> None:
        """Append rows (every call with the same columns)."""
        if self.format == "parquet":
            import pyarrow.parquet as pq

            if self._writer is None:
                self._writer = pq.ParquetWriter(self._out.temp_path, table.schema)
            self._writer.write_table(table)
        elif self.format == "csv":
            import pyarrow.csv as pcsv

            name = self.text_column
            if name in table.column_names and pa.types.is_string(table.schema.field(name).type):
                safe = [
                    neutralise_formula(v) if v is not None else None
                    for v in table.column(name).to_pylist()
                ]
                index = table.column_names.index(name)
                table = table.set_column(index, name, pa.array(safe, pa.string()))
            if self._writer is None:
                if self._out.temp_path.lower().endswith(".gz"):
                    self._file = pa.CompressedOutputStream(self._out.temp_path, "gzip")
                else:
                    self._file = open(self._out.temp_path, "wb")
                self._writer = pcsv.CSVWriter(self._file, table.schema)
            self._writer.write_table(table)
        else:
            if self._file is None:
                self._file = open(self._out.temp_path, "w", encoding="utf-8")
            for record in table.to_pylist():
                clean = {
                    k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                    for k, v in record.items()
                }
                self._file.write(json.dumps(clean) + "\n")

    def _close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._file is not None:
            self._file.close()
            self._file = None

    def commit(self) -> None:
        try:
            self._close()
            self._out.commit()
        except BaseException:  # a signal as the file is finished: remove what was staged
            self._out.abort()
            raise

    def abort(self) -> None:
        try:
            self._close()
        finally:
            self._out.abort()


class PerSequenceWriter:
    """``--per-sequence``: one row per sequence, in input order (see :mod:`ce_cli.state.sequences`):
    ``sequence``, ``first_row``, ``last_row``, ``rows``, ``tokens`` (rows evaluated),
    ``weight``, ``cross_entropy`` (the mean over its tokens, in the report's base) and
    ``perplexity``; the last two are empty for a sequence with no evaluated token."""

    FLUSH_ROWS = 4096

    def __init__(self, path: str, base_divisor: float) -> None:
        self._out = PerSampleWriter(path, (), base_divisor, "--per-sequence", "sequence")
        self.base_divisor = base_divisor
        self._pending: list[dict[str, Any]] = []
        self._id_type: pa.DataType | None = None

    def add(self, sequence: Any) -> None:
        from ce_cli.state.sequences import sequence_record

        self._pending.append(sequence_record(sequence, self.base_divisor))
        if len(self._pending) >= self.FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        records, self._pending = self._pending, []
        ids = [r["sequence"] for r in records]
        if self._id_type is None:
            self._id_type = pa.int64() if isinstance(ids[0], int) else pa.string()
        columns = {"sequence": pa.array(ids, self._id_type)}
        for key in ("first_row", "last_row", "rows", "tokens"):
            columns[key] = pa.array([r[key] for r in records], pa.int64())
        for key in ("weight", "cross_entropy", "perplexity"):
            columns[key] = pa.array([r[key] for r in records], pa.float64())
        self._out.write_table(pa.table(columns))

    def commit(self) -> None:
        self.flush()
        if self._id_type is None:  # no sequence at all: still a file, with its header
            self._id_type = pa.string()
            self._out.write_table(
                pa.table(
                    {
                        "sequence": pa.array([], pa.string()),
                        **{k: pa.array([], pa.int64()) for k in ("first_row", "last_row")},
                        **{k: pa.array([], pa.int64()) for k in ("rows", "tokens")},
                        **{
                            k: pa.array([], pa.float64())
                            for k in ("weight", "cross_entropy", "perplexity")
                        },
                    }
                )
            )
        self._out.commit()

    def abort(self) -> None:
        self._out.abort()
