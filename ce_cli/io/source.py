"""An opened input (:class:`Source`: name, format, schema, a stream of record batches) and the
reader boundary, where whatever pyarrow, I/O or decoding raises becomes the one-line error that
says what is wrong with the input."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import pyarrow as pa

from ce_cli.errors import (
    CeEvalError,
    InputFormatError,
    MissingColumnError,
    NonNumericError,
)
from ce_cli.io.locate import TextCheck


@dataclass
class Source:
    """An opened input: its display name, format, schema, and a way to stream its batches."""

    name: str
    format: str
    schema: pa.Schema
    _stream: Callable[[Sequence[str] | None, Sequence[str]], Iterator[pa.RecordBatch]]
    size_bytes: int | None = None
    total_rows: int | None = None
    _cleanup: Callable[[], None] | None = None
    # Set where the stream is made of other sources' checked batches (datasets, joins).
    text_checked: bool = False
    # The Parquet files read, in order (a file, or a dataset's parts): engines that split the
    # input by row group read their metadata.
    files: tuple[str, ...] = ()

    def batches(
        self, columns: Sequence[str] | None = None, float_columns: Sequence[str] = ()
    ) -> Iterator[pa.RecordBatch]:
        """Stream the input's record batches, only ``columns`` (all when ``None``).

        ``float_columns`` are parsed as float64 where the format has no types (CSV), so a
        column whose first block looks like integers does not fail on a later ``0.5``.
        """
        first = 1
        # pyarrow checks UTF-8 in CSV itself.
        check = None if self.text_checked or self.format in ("csv", "tsv") else TextCheck(self.name)
        with reading(self.name):
            for batch in self._stream(columns, float_columns):
                if check is not None:
                    check(batch, first)
                first += batch.num_rows
                yield batch

    def close(self) -> None:
        if self._cleanup is not None:
            self._cleanup()
            self._cleanup = None


@contextlib.contextmanager
def reading(name: str) -> Iterator[None]:
    """The reader boundary: whatever pyarrow or decoding raises while ``name`` is read becomes
    the :class:`~ce_cli.errors.CeEvalError` that says what is wrong with the input."""
    try:
        yield
    except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:
        raise read_error(exc, name) from None


def _check_schema(source: Source) -> None:
    """Column names must be UTF-8 (pyarrow decodes them only when asked), and extension
    types are refused."""
    for i in range(len(source.schema)):
        try:
            source.schema.field(i).name  # noqa: B018 - decoding is the check
        except UnicodeDecodeError:
            source.close()
            raise InputFormatError(
                f"the name of column #{i + 1} is not UTF-8 text",
                file=source.name,
                hint="rename the column, or check that the file is not damaged",
            ) from None
    seen: set[str] = set()
    for column in source.schema.names:
        if column in seen:
            source.close()
            raise InputFormatError(
                "two columns have the same name",
                file=source.name,
                column=column,
                hint="rename one of them; a column must be named once",
            )
        seen.add(column)
    for field in source.schema:
        if isinstance(field.type, pa.ExtensionType) or "extension" in str(field.type):
            source.close()
            raise InputFormatError(
                "extension types are not read (they can carry code)",
                file=source.name,
                column=field.name,
                hint="write plain numeric columns",
            )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


_CSV_CONVERSION = re.compile(
    r"In CSV column #(?P<col>\d+): (?:Row #(?P<row>\d+): )?CSV conversion error to (?P<type>\w+): "
    r"invalid value '(?P<value>.*)'"
)


_CSV_RAGGED = re.compile(r"Expected (?P<want>\d+) columns, got (?P<got>\d+): (?P<line>.*)")


def read_error(exc: BaseException, name: str) -> CeEvalError:
    """The one mapping of what reading can raise (pyarrow, I/O, decoding) to a CeEvalError."""
    if isinstance(exc, UnicodeDecodeError):
        return InputFormatError(
            "the input holds text that is not UTF-8",
            file=name,
            hint="re-encode it as UTF-8, or check that the file is not damaged",
        )
    if isinstance(exc, pa.ArrowMemoryError):
        return InputFormatError(
            f"reading it needs more memory than there is ({_first_line(exc)})",
            file=name,
            hint="the file is damaged (it declares impossible sizes) or too large for this machine",
        )
    return _arrow_error(exc, name)


def _arrow_error(exc: BaseException, name: str) -> CeEvalError:
    """Turn a pyarrow parse error into a one-line error that names what it can."""
    text = str(exc)
    match = _CSV_CONVERSION.search(text)
    if match:
        row = int(match["row"]) - 1 if match["row"] else None  # pyarrow counts the header
        return NonNumericError(
            f"not a number in column #{int(match['col']) + 1}",
            file=name,
            row=row,
            value=match["value"],
            hint="prediction, target and weight columns must be numeric",
        )
    match = _CSV_RAGGED.search(text)
    if match:
        return InputFormatError(
            f"a row has {match['got']} fields where the header has {match['want']}",
            file=name,
            value=match["line"][:60],
            hint="check the delimiter and quoting",
        )
    if "No such file" in text:
        return InputFormatError("no such file", file=name)
    if "MissingColumn" in type(exc).__name__ or "No match for FieldRef" in text:
        return MissingColumnError(_first_line(exc), file=name)
    return InputFormatError(f"cannot read the input ({_first_line(exc)})", file=name)
