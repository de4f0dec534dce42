"""Find where an input is broken: the row, column and value for the reader's error.

pyarrow's parse errors do not always say where: a ragged CSV row comes without its row number,
and a JSON Lines error counts rows from 0 within a block. The text scans here run only after a
parse has failed, so they cost nothing on good input. Rows are 1-based data rows (a CSV header
is not a row; a blank JSON line is not a row). :class:`TextCheck` is the one check run on good
input: text columns must be UTF-8, which pyarrow checks in CSV only.
"""

from __future__ import annotations

import csv
import gzip
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any

import numpy as np
import pyarrow as pa

from ce_cli.errors import CeEvalError, InputFormatError, NonNumericError


def _open_text(path: str) -> IO[str]:
    opener: Any = gzip.open if path.endswith(".gz") else open
    text: IO[str] = opener(path, "rt", newline="", encoding="utf-8", errors="replace")
    return text


def first_ragged_csv_row(path: str, delimiter: str) -> int | None:
    """The first data row whose number of fields differs from the header's.

    >>> import tempfile, os
    >>> with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
    ...     _ = f.write("a,b\\n1,2\\n\\n3,4,5\\n")
    >>> first_ragged_csv_row(f.name, ","); os.unlink(f.name)
    2
    """
    with _open_text(path) as f:
        records = (fields for fields in csv.reader(f, delimiter=delimiter) if fields)
        header = next(records, None)
        if header is None:
            return None
        for row, fields in enumerate(records, start=1):
            if len(fields) != len(header):
                return row
    return None


@dataclass(frozen=True)
class JsonProblem:
    """Where a JSON Lines file first goes wrong, and how."""

    row: int
    message: str
    column: str | None = None
    value: Any = None
    not_a_number: bool = False


def _kind(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "list" if isinstance(value, list) else "object"


def _rows(path: str) -> Iterator[tuple[int, str]]:
    with _open_text(path) as f:
        row = 0
        for line in f:
            if line.strip():
                row += 1
                yield row, line.rstrip("\r\n")


def first_bad_json_row(path: str, expected: Mapping[str, str] | None = None) -> JsonProblem | None:
    """The first row that is not a JSON object, or whose value for a key is of another kind
    (number, string, boolean, list, object) than ``expected`` says or earlier rows had.

    >>> import tempfile, os
    >>> with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
    ...     _ = f.write('{"p": 0.5}\\n\\n{"p": null}\\n{"p": "abc"}\\n')
    >>> first_bad_json_row(f.name); os.unlink(f.name)
    JsonProblem(row=3, message='not a number', column='p', value='abc', not_a_number=True)
    """
    kinds = dict(expected or {})
    for row, line in _rows(path):
        try:
            record = json.loads(line)
        except ValueError:
            return JsonProblem(row, "the line is not valid JSON", value=line)
        if not isinstance(record, dict):
            return JsonProblem(row, "the line is not a JSON object", value=line)
        for key, value in record.items():
            kind = _kind(value)
            if kind is None:
                continue
            want = kinds.setdefault(key, kind)
            if kind != want:
                if want == "number":
                    return JsonProblem(row, "not a number", key, value, not_a_number=True)
                message = f"holds a {kind} where other rows hold a {want}"
                return JsonProblem(row, message, key, value)
    return None


def _json_kind(t: pa.DataType) -> str | None:
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "number"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_timestamp(t):
        return "string"
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return "list"
    return "object" if pa.types.is_struct(t) else None


def locate_json_error(path: str, name: str, schema: pa.Schema | None) -> CeEvalError | None:
    """The error for the first bad row of a JSON Lines file whose parse failed (None when the
    scan finds nothing wrong); ``schema`` holds the types the rows were read with."""
    expected: dict[str, str] = {}
    for field in schema or ():
        kind = _json_kind(field.type)
        if kind is not None:
            expected[field.name] = kind
    problem = first_bad_json_row(path, expected)
    if problem is None:
        return None
    value = problem.value
    if isinstance(value, str):
        value = value[:60]
    error_type: type[CeEvalError] = InputFormatError
    hint = "each line must be one JSON object, with one kind of value per key"
    if problem.not_a_number:
        error_type, hint = NonNumericError, "prediction, target and weight columns must be numeric"
    return error_type(
        problem.message, file=name, column=problem.column, row=problem.row, value=value, hint=hint
    )


class TextCheck:
    """Text columns must hold UTF-8 (pyarrow checks it in CSV, not in JSON, Parquet or Arrow).

    Called once per batch of one stream. A dictionary-encoded column hands every batch the same
    dictionary (Parquet, Arrow IPC): each distinct dictionary is validated once, not once a
    batch, which made the check grow with the square of the file's length.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._dictionaries: set[tuple[int, ...]] = set()

    def __call__(self, batch: pa.RecordBatch, first_row: int) -> None:
        """Check ``batch``, whose first row is the stream's 1-based ``first_row``."""
        for index, array in enumerate(batch.columns):
            t = array.type
            dictionary = pa.types.is_dictionary(t)
            value_type = t.value_type if dictionary else t
            if not (pa.types.is_string(value_type) or pa.types.is_large_string(value_type)):
                continue
            try:
                if not dictionary:
                    array.validate(full=True)
                    continue
                array.indices.validate(full=True)
                key = tuple(b.address if b is not None else 0 for b in array.dictionary.buffers())
                key += (array.dictionary.offset, len(array.dictionary))
                if key not in self._dictionaries:
                    array.dictionary.validate(full=True)
                    self._dictionaries.add(key)
            except pa.ArrowInvalid as exc:
                column = batch.schema.field(index).name
                raise _bad_text(array, exc, column, first_row, self.name) from None


def _bad_text(
    array: pa.Array, exc: pa.ArrowInvalid, column: str, first_row: int, name: str
) -> InputFormatError:
    """The error for a text column that failed validation, at its first bad row if known."""
    error = InputFormatError(
        "holds text that is not UTF-8",
        file=name,
        column=column,
        hint="re-encode the file's text as UTF-8",
    )
    match = re.search(r"Invalid UTF8 sequence at string index (\d+)", str(exc))
    if match is None:
        return error
    index = int(match[1])
    if pa.types.is_dictionary(array.type):
        error.value = array.dictionary.cast(pa.binary())[index].as_py()
        positions = np.flatnonzero(array.indices.to_numpy(zero_copy_only=False) == index)
        index = int(positions[0]) if len(positions) else -1
    else:
        error.value = array.cast(pa.binary())[index].as_py()
    if index >= 0:
        error.row = first_row + index
    return error
