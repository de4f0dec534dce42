"""Input readers: any source becomes a schema and a stream of ``pyarrow.RecordBatch``.

Formats: Parquet, CSV, TSV (and gzip'd CSV/TSV), Arrow IPC / Feather, JSON Lines, and standard
input (``-``), whose format is sniffed from its first bytes unless ``input_format`` says. Readers
stream (Parquet row groups, CSV blocks); they never hold the whole input. They do no checks of the
data beyond what the format needs; failures become :class:`~ce_cli.errors.InputFormatError`.

Safety: files are parsed by pyarrow (>= 14.0.1, without the PyExtensionType deserialisation
advisory); extension types are refused, and nothing is ever unpickled.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from ce_cli.errors import (
    CeEvalError,
    EmptyInputError,
    InputFormatError,
    MissingColumnError,
    NonNumericError,
)
from ce_cli.io.locate import TextCheck, first_ragged_csv_row, locate_json_error
from ce_cli.io.remote import input_file, is_url

# Batches are sized by values, not rows: at most BATCH_ROWS rows and, where a row holds more
# than BATCH_VALUES / BATCH_ROWS values (a 32k-vocabulary list column), about BATCH_VALUES
# values, so a batch's memory is bounded whatever the width (a 256k vocabulary: 16 rows, 16 MB
# of float32). The size is a function of the data alone (its width), never of the machine.
BATCH_ROWS = 65_536
BATCH_VALUES = 1 << 22
# Parquet column chunks larger than this are read through a buffer of PARQUET_BUFFER_BYTES:
# unbuffered, pyarrow reads a whole column chunk at once (1 GB for a row group of 1,000 rows of
# a 256k vocabulary, whatever the batch size).
PARQUET_LARGE_CHUNK_BYTES = 32 << 20
PARQUET_BUFFER_BYTES = 8 << 20
# CSV is parsed in pyarrow's default 1 MiB blocks: more blocks to share among the cores, each in
# cache (an 84 MB file read whole: 94 ms against 135 ms in 8 MiB blocks; a 421 MB file streamed,
# the whole report: about 1.0 s and 220 MiB peak against 1.26 s and 497 MiB).
CSV_BLOCK_BYTES = 1 << 20
JSON_BLOCK_BYTES = 8 << 20
# Text files up to this size are parsed whole on all cores (fastest); larger ones, and gzip'd
# ones whatever their size, are streamed, so memory stays bounded at any size.
CSV_WHOLE_FILE_BYTES = 256 << 20
FORMATS = ("parquet", "csv", "tsv", "arrow", "jsonl")

_SUFFIXES = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".arrow": "arrow",
    ".feather": "arrow",
    ".ipc": "arrow",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}


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


def detect_format(path: str, declared: str | None = None) -> str:
    """The format of ``path`` from ``declared`` or its extension (``.gz`` is looked through)."""
    if declared:
        key = declared.lower().lstrip(".")
        aliases = {"feather": "arrow", "ipc": "arrow", "json": "jsonl", "ndjson": "jsonl"}
        key = aliases.get(key, key)
        if key not in FORMATS:
            raise InputFormatError(
                "unknown --input-format", value=declared, hint=f"use one of {', '.join(FORMATS)}"
            )
        return key
    name = path.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    suffix = Path(name).suffix
    if suffix in _SUFFIXES:
        return _SUFFIXES[suffix]
    raise InputFormatError(
        "cannot tell the file's format from its name",
        file=path,
        hint=f"name it .parquet, .csv, .tsv, .csv.gz, .arrow, .jsonl, or pass --input-format "
        f"({', '.join(FORMATS)})",
    )


def sniff_format(head: bytes) -> str:
    """Guess a format from the first bytes of a stream (stdin)."""
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith((b"ARROW1", b"\xff\xff\xff\xff")):
        return "arrow"
    if head.startswith(b"\x1f\x8b"):
        import zlib

        try:
            inner = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head)
        except zlib.error:
            return "csv"
        fmt = sniff_format(inner)
        return fmt if fmt in ("csv", "tsv") else "csv"
    text = head.lstrip()
    if text.startswith(b"{"):
        return "jsonl"
    first_line = text.split(b"\n", 1)[0]
    if b"\t" in first_line and b"," not in first_line:
        return "tsv"
    return "csv"


def open_source(path: str, input_format: str | None = None) -> Source:
    """Open a file, or ``-`` for standard input (spooled to a temporary file, then sniffed)."""
    if path == "-":
        return _open_stdin(input_format)
    if is_url(path):
        return _open_url(path, input_format)
    if os.path.isdir(path) or (not os.path.exists(path) and any(c in path for c in "*?[")):
        with reading(path):
            dataset = _open_parquet_files(path)
        _check_schema(dataset)
        return dataset
    if not os.path.exists(path):
        raise InputFormatError("no such file", file=path, hint="check the path")
    if not os.path.isfile(path):
        import stat

        if stat.S_ISCHR(os.stat(path).st_mode):
            # A terminal would wait for typing; /dev/zero or /dev/urandom never end.
            raise InputFormatError(
                "is a terminal or another character device, not predictions",
                file=path,
                hint="name a file, or pipe the predictions in",
            )
        # A FIFO (<(cmd)) or a socket: read once, as a stream, like standard input
        # (opening it twice would hang, or read different data).
        declared = input_format
        if declared is None and Path(path.lower().removesuffix(".gz")).suffix in _SUFFIXES:
            declared = detect_format(path)
        try:
            stream = open(path, "rb")
        except OSError as exc:
            raise InputFormatError(f"cannot read it ({exc.strerror})", file=path) from None
        with stream:
            return _open_stream(stream, path, declared)
    fmt = detect_format(path, input_format)
    with reading(path):
        source = _OPENERS[fmt](path, path)
    source.size_bytes = os.path.getsize(path)
    _check_schema(source)
    return source


def _open_url(url: str, input_format: str | None) -> Source:
    """A remote file, directory or glob through fsspec (see :mod:`ce_cli.io.remote`)."""
    from ce_cli.io import remote

    files = remote.list_parquet(url)
    if files is not None:
        if not files:
            raise InputFormatError(
                "no Parquet files there",
                file=url,
                hint="a directory of .parquet files, or a glob such as 'parts/*.parquet'",
            )
        with reading(url):
            dataset = _parquet_dataset(url, files)
        _check_schema(dataset)
        return dataset
    if not remote.exists(url):
        raise InputFormatError("no such file", file=url, hint="check the path")
    fmt = detect_format(url, input_format)
    if fmt == "parquet":
        with reading(url):
            source = _open_parquet(url, url)
    else:  # text and Arrow readers want a local file: a copy, removed on close
        suffix = ".gz" if url.endswith(".gz") else ""
        handle = tempfile.NamedTemporaryFile(prefix="ce-eval-remote-", suffix=suffix, delete=False)
        try:
            with handle, reading(url), input_file(url) as remote_file:
                shutil.copyfileobj(remote_file, handle, 1 << 20)
            with reading(url):
                source = _OPENERS[fmt](handle.name, url)
        except BaseException:
            os.unlink(handle.name)
            raise
        source._cleanup = lambda: os.unlink(handle.name) if os.path.exists(handle.name) else None
    source.size_bytes = remote.size(url)
    _check_schema(source)
    return source


def _open_stdin(input_format: str | None) -> Source:
    if sys.stdin is None:
        raise InputFormatError(
            "standard input is closed",
            file="<stdin>",
            hint="pipe the predictions in, or name a file",
        )
    if sys.stdin.isatty():
        raise InputFormatError(
            "standard input is a terminal",
            file="<stdin>",
            hint="pipe the predictions in (cat preds.csv | ce-eval -), or name a file",
        )
    return _open_stream(sys.stdin.buffer, "<stdin>", input_format)


def _open_stream(stream: Any, name: str, input_format: str | None) -> Source:
    """A stream read once (standard input, a FIFO) is spooled to a temporary file, its format
    sniffed from the first bytes unless given."""
    handle = tempfile.NamedTemporaryFile(prefix="ce-eval-stdin-", delete=False)
    try:
        with handle:
            try:
                shutil.copyfileobj(stream, handle, 1 << 20)
            except OSError as exc:
                if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
                    raise  # the spool's own problem, reported as such
                raise InputFormatError(f"cannot read it ({exc.strerror})", file=name) from None
        with open(handle.name, "rb") as f:
            head = f.read(65536)
        if not head:
            raise EmptyInputError(
                "standard input is empty" if name == "<stdin>" else "the input is empty",
                file=name,
            )
        fmt = detect_format("-", input_format) if input_format else sniff_format(head)
        if fmt in ("csv", "tsv") and head.startswith(b"\x1f\x8b"):
            gz = handle.name + ".gz"
            os.replace(handle.name, gz)
            handle.name = gz
        with reading(name):
            source = _OPENERS[fmt](handle.name, name)
    except BaseException:
        os.unlink(handle.name)
        raise
    source._cleanup = lambda: os.unlink(handle.name) if os.path.exists(handle.name) else None
    source.size_bytes = os.path.getsize(handle.name)
    _check_schema(source)
    return source


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
    """A read buffer where a column chunk is large (0: pyarrow reads each chunk at once)."""
    largest = 0
    for g in range(metadata.num_row_groups):
        group = metadata.row_group(g)
        for j in range(group.num_columns):
            largest = max(largest, group.column(j).total_compressed_size)
    return PARQUET_BUFFER_BYTES if largest > PARQUET_LARGE_CHUNK_BYTES else 0


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


def _parse_options(delimiter: str, multiline: bool = False) -> Any:
    """pyarrow's parse options; ``multiline`` lets a quoted value hold a line break, which
    costs the whole-file reader about 60 % and the streaming one nothing measurable."""
    import pyarrow.csv as pcsv

    return pcsv.ParseOptions(delimiter=delimiter, newlines_in_values=multiline)


def _open_delimited(delimiter: str, fmt: str) -> Callable[[str, str], Source]:
    def opener(path: str, name: str) -> Source:
        import pyarrow.csv as pcsv

        _check_text_encoding(path, name, delimiter)
        try:
            longest = _longest_first_line(path)
            # pyarrow cannot parse a row longer than its block: room for 16 of the widest
            # (for rows of megabytes, for two of them, and blocks of 64 MiB at most then).
            rows_room = min(16 * longest, max(2 * longest, 64 << 20))
            read = pcsv.ReadOptions(block_size=max(CSV_BLOCK_BYTES, rows_room))
            # The schema comes from a small first block; the real read uses larger ones.
            probe = pcsv.ReadOptions(block_size=max(1 << 16, 4 * longest))
            reader = pcsv.open_csv(
                path, read_options=probe, parse_options=_parse_options(delimiter, multiline=True)
            )
            schema = reader.schema
        except (pa.ArrowInvalid, OSError) as exc:
            if "Empty CSV file" in str(exc):
                raise EmptyInputError("the file is empty (no header, no rows)", file=name) from None
            raise _locate_csv_error(exc, path, name, delimiter, []) from None
        try:
            _check_header(schema, name)
        except UnicodeDecodeError:
            raise InputFormatError(
                "the header is not UTF-8 text", file=name, hint="is this really a CSV/TSV file?"
            ) from None

        def stream(
            columns: Sequence[str] | None, float_columns: Sequence[str]
        ) -> Iterator[pa.RecordBatch]:
            streamed = path.endswith(".gz") or os.path.getsize(path) > CSV_WHOLE_FILE_BYTES
            types = {f.name: f.type for f in schema if not pa.types.is_null(f.type)}
            types.update({c: pa.float64() for c in float_columns})
            convert = pcsv.ConvertOptions(
                include_columns=list(columns) if columns is not None else None,
                column_types={c: types[c] for c in (columns or schema.names) if c in types},
            )
            try:
                if streamed:
                    reader = pcsv.open_csv(
                        path,
                        read_options=read,
                        parse_options=_parse_options(delimiter, multiline=True),
                        convert_options=convert,
                    )
                    rows = batch_rows(len(reader.schema))
                    yield from _rebatched(reader, rows)
                else:
                    table = _read_whole(path, read, delimiter, convert)
                    yield from _batches_of(table, batch_rows(table.num_columns))
            except pa.ArrowInvalid as exc:
                raise _locate_csv_error(exc, path, name, delimiter, schema.names) from None

        return Source(name, fmt, schema, stream)

    return opener


def _check_text_encoding(path: str, name: str, delimiter: str = "") -> None:
    """UTF-16 and UTF-32 text (a byte-order mark, or NUL bytes in the first line, as Excel and
    PowerShell write it) is named as an encoding problem, not reported as ragged rows."""
    import gzip
    import zlib

    try:
        with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
            head = f.read(4096)
    except (OSError, EOFError, zlib.error):
        return  # the parser says what is wrong in its own words
    boms = {
        b"\xff\xfe\x00\x00": "UTF-32",
        b"\x00\x00\xfe\xff": "UTF-32",
        b"\xff\xfe": "UTF-16",
        b"\xfe\xff": "UTF-16",
    }
    encoding = next((e for bom, e in boms.items() if head.startswith(bom)), None)
    first_line = head.split(b"\n", 1)[0]
    if encoding is None and first_line.count(b"\x00") * 4 >= len(first_line) > 0:
        encoding = "UTF-16 or UTF-32"
    if encoding is None and delimiter == "," and b";" in first_line and b"," not in first_line:
        raise InputFormatError(
            "the header is separated by ';', not ',' (a European spreadsheet's CSV)",
            file=name,
            hint="save it with commas as the separator (and '.' as the decimal mark)",
        )
    if encoding is not None:
        raise InputFormatError(
            f"the file is {encoding} text; ce-eval reads text files as UTF-8",
            file=name,
            hint="convert it, e.g. iconv -f UTF-16 -t UTF-8 in.csv > out.csv, or save as "
            "'CSV UTF-8'",
        )


def _locate_csv_error(
    exc: BaseException, path: str, name: str, delimiter: str, names: list[str]
) -> CeEvalError:
    """The parse error with its column named and, when pyarrow did not say, its row found by
    scanning the text (only on this error path)."""
    error = _arrow_error(exc, name)
    if _CSV_RAGGED.search(str(exc)) and error.row is None:
        error.row = first_ragged_csv_row(path, delimiter)
        return error
    match = _CSV_CONVERSION.search(str(exc))
    if not isinstance(error, NonNumericError) or match is None:
        return error
    index = int(match["col"])
    error.column = names[index] if index < len(names) else None
    error.message = "not a number"
    if match["type"] == "null":
        # The streaming reader keeps the types of its first rows, where this column was empty.
        error.message = "a value in a column that is empty in the first rows"
        error.hint = (
            "a gzip'd or large CSV file takes each column's type from its first rows: fill the "
            "column there, or convert the file to Parquet"
        )
    if error.row is None:
        import csv
        import gzip

        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rt", newline="", encoding="utf-8", errors="replace") as f:
            for row, fields in enumerate(csv.reader(f, delimiter=delimiter)):
                if row and index < len(fields) and fields[index] == match["value"]:
                    error.row = row
                    break
    return error


def _longest_first_line(path: str, lines: int = 64, limit: int = 64 << 20) -> int:
    """The length in bytes of the longest of the file's first ``lines`` lines (the header
    included; ``\n``, ``\r`` and ``\r\n`` end a line, as for pyarrow), reading at most
    ``limit`` bytes; 0 where the file cannot be read, which pyarrow then reports in its own
    words."""
    import gzip
    import zlib

    chunks: list[bytes] = []
    size = breaks = 0
    try:
        with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
            while size < limit and breaks <= 2 * lines:
                chunk = f.read(1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
                breaks += chunk.count(b"\n") + chunk.count(b"\r")
    except (OSError, EOFError, zlib.error):  # a damaged or truncated gzip stream
        return 0
    head = b"".join(chunks)
    return max((len(line) + 1 for line in re.split(rb"\r\n|\r|\n", head)[:lines]), default=0)


def _quotes_after_header(path: str) -> bool:
    """Whether a quote character appears past the header line: only then can a value hold a
    line break (pyarrow's fast chunker cuts blocks at any line break, and a cut inside quotes
    can even go unnoticed). A memchr scan: about 7 ms for 84 MB. A header that does not end
    within its first MiB counts as quoted."""
    buffer = bytearray(1 << 20)
    with open(path, "rb") as f:
        n = f.readinto(buffer)
        ends = [i for i in (buffer.find(b"\n", 0, n), buffer.find(b"\r", 0, n)) if i != -1]
        if not ends:
            return n > 0
        start = min(ends) + 1
        while n:
            if buffer.find(b'"', start, n) != -1:
                return True
            start = 0
            n = f.readinto(buffer)
    return False


def _read_whole(path: str, read: Any, delimiter: str, convert: Any) -> pa.Table:
    """The whole file as one table, parsed on all cores; with the quote-aware chunker (about
    60 % slower) where a quoted value could hold a line break."""
    import pyarrow.csv as pcsv

    return pcsv.read_csv(
        path,
        read_options=read,
        parse_options=_parse_options(delimiter, multiline=_quotes_after_header(path)),
        convert_options=convert,
    )


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


def _check_header(schema: pa.Schema, name: str) -> None:
    seen: set[str] = set()
    for column in schema.names:
        if column in seen:
            raise InputFormatError(
                "the header names a column twice", file=name, column=column, hint="rename one"
            )
        seen.add(column)


def _open_arrow(path: str, name: str) -> Source:
    import pyarrow.ipc as ipc

    def reader() -> pa.RecordBatchReader | ipc.RecordBatchFileReader:
        source = pa.memory_map(path, "r")
        try:
            return ipc.open_file(source)
        except pa.ArrowInvalid:
            return ipc.open_stream(pa.memory_map(path, "r"))

    try:
        schema = reader().schema
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputFormatError(
            f"not a readable Arrow IPC / Feather file ({_first_line(exc)})",
            file=name,
            hint="Feather v1 files are not supported; write Feather v2 (Arrow IPC)",
        ) from None

    def stream(columns: Sequence[str] | None, _floats: Sequence[str]) -> Iterator[pa.RecordBatch]:
        r = reader()
        if isinstance(r, ipc.RecordBatchFileReader):
            batches: Iterator[pa.RecordBatch] = (
                r.get_batch(i) for i in range(r.num_record_batches)
            )
        else:
            batches = iter(r)
        selected = (b if columns is None else b.select(list(columns)) for b in batches)
        yield from sliced(selected)

    return Source(name, "arrow", schema, stream)


def _open_jsonl(path: str, name: str) -> Source:
    """JSON Lines, streamed block by block (types from the first block, as for CSV)."""
    import pyarrow.json as pjson

    _check_text_encoding(path, name)
    options = pjson.ReadOptions(block_size=JSON_BLOCK_BYTES)
    try:
        schema = pjson.open_json(path, read_options=options).schema
    except (pa.ArrowInvalid, OSError) as exc:
        raise _json_error(exc, path, name, None) from None

    def stream(columns: Sequence[str] | None, floats: Sequence[str]) -> Iterator[pa.RecordBatch]:
        fields = [pa.field(f.name, pa.float64() if f.name in floats else f.type) for f in schema]
        parse = pjson.ParseOptions(explicit_schema=pa.schema(fields))
        try:
            for batch in pjson.open_json(path, read_options=options, parse_options=parse):
                yield batch if columns is None else batch.select(list(columns))
        except pa.ArrowInvalid as exc:
            raise _json_error(exc, path, name, pa.schema(fields)) from None

    return Source(name, "jsonl", schema, stream)


_OPENERS: dict[str, Callable[[str, str], Source]] = {
    "parquet": _open_parquet,
    "csv": _open_delimited(",", "csv"),
    "tsv": _open_delimited("\t", "tsv"),
    "arrow": _open_arrow,
    "jsonl": _open_jsonl,
}


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


def _json_error(exc: BaseException, path: str, name: str, schema: pa.Schema | None) -> CeEvalError:
    """A JSON Lines parse error at its 1-based row (pyarrow counts from 0 within a block)."""
    located = locate_json_error(path, name, schema) if isinstance(exc, pa.ArrowInvalid) else None
    return located or _arrow_error(exc, name)


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
