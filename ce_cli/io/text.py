"""Text inputs: CSV, TSV (gzip'd too) and JSON Lines, parsed by pyarrow in blocks (small files
whole, on all cores), with encoding, header and quoting checked and parse errors located at
their row."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pyarrow as pa

from ce_cli.errors import (
    CeEvalError,
    EmptyInputError,
    InputFormatError,
    NonNumericError,
)
from ce_cli.io.batching import _batches_of, _rebatched, batch_rows
from ce_cli.io.locate import first_ragged_csv_row, locate_json_error
from ce_cli.io.source import (
    _CSV_CONVERSION,
    _CSV_RAGGED,
    Source,
    _arrow_error,
)

# CSV is parsed in pyarrow's default 1 MiB blocks: more blocks to share among the cores, each in
# cache (an 84 MB file read whole: 94 ms against 135 ms in 8 MiB blocks; a 421 MB file streamed,
# the whole report: about 1.0 s and 220 MiB peak against 1.26 s and 497 MiB).
CSV_BLOCK_BYTES = 1 << 20


JSON_BLOCK_BYTES = 8 << 20


# Text files up to this size are parsed whole on all cores (fastest); larger ones, and gzip'd
# ones whatever their size, are streamed, so memory stays bounded at any size.
CSV_WHOLE_FILE_BYTES = 256 << 20


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
            # The source's schema, not the probe's: ids_as_text may have made a column text.
            types = {f.name: f.type for f in source.schema if not pa.types.is_null(f.type)}
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

        source = Source(name, fmt, schema, stream)
        return source

    return opener


def ids_as_text(source: Source, column: str | None) -> Source:
    """``source`` with its id ``column`` read as text where the format has no types (CSV, TSV):
    an id is a name, so ``0001`` stays ``0001`` (not the number 1) and pairs with the same id
    stored as text in Parquet. Other formats, and a source without that column, are unchanged."""
    if column is None or source.format not in ("csv", "tsv"):
        return source
    i = source.schema.get_field_index(column)
    if i >= 0:
        field = source.schema.field(i)
        source.schema = source.schema.set(i, field.with_type(pa.string()))
    return source


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


def _check_header(schema: pa.Schema, name: str) -> None:
    seen: set[str] = set()
    for column in schema.names:
        if column in seen:
            raise InputFormatError(
                "the header names a column twice", file=name, column=column, hint="rename one"
            )
        seen.add(column)


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


def _json_error(exc: BaseException, path: str, name: str, schema: pa.Schema | None) -> CeEvalError:
    """A JSON Lines parse error at its 1-based row (pyarrow counts from 0 within a block)."""
    located = locate_json_error(path, name, schema) if isinstance(exc, pa.ArrowInvalid) else None
    return located or _arrow_error(exc, name)
