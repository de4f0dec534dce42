"""Input readers: any source becomes a schema and a stream of ``pyarrow.RecordBatch``.

Formats: Parquet, CSV, TSV (and gzip'd CSV/TSV), Arrow IPC / Feather, JSON Lines, and standard
input (``-``), whose format is sniffed from its first bytes unless ``input_format`` says. Readers
stream (Parquet row groups, CSV blocks); they never hold the whole input. They do no checks of the
data beyond what the format needs; failures become :class:`~ce_cli.errors.InputFormatError`.

Safety: files are parsed by pyarrow (>= 14.0.1, without the PyExtensionType deserialisation
advisory); extension types are refused, and nothing is ever unpickled.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from ce_cli.errors import (
    EmptyInputError,
    InputFormatError,
)
from ce_cli.io.batching import sliced
from ce_cli.io.parquet import _open_parquet, _open_parquet_files, _parquet_dataset
from ce_cli.io.remote import input_file, is_url
from ce_cli.io.source import (
    Source,
    _check_schema,
    _first_line,
    reading,
)
from ce_cli.io.text import _open_delimited, _open_jsonl

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


def names_format(path: str) -> bool:
    """Whether ``path``'s name says its format (a known suffix, ``.gz`` looked through)."""
    return Path(path.lower().removesuffix(".gz")).suffix in _SUFFIXES


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
    _check_stdin_readable(sys.stdin)
    return _open_stream(sys.stdin.buffer, "<stdin>", input_format)


def _check_stdin_readable(stdin: Any) -> None:
    """Standard input that cannot be read says what it is (read, it would fail with a bare
    "Is a directory" or "Bad file descriptor")."""
    import fcntl
    import stat

    try:
        fd = stdin.fileno()
        mode = os.fstat(fd).st_mode
        access = fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE
    except (OSError, ValueError, AttributeError):
        return  # not a descriptor of this process (an embedding's stream): read it as it is
    hint = "pipe the predictions in (cat preds.csv | ce-eval -), or name a file"
    if stat.S_ISDIR(mode):
        raise InputFormatError("standard input is a directory", file="<stdin>", hint=hint)
    if access == os.O_WRONLY:
        raise InputFormatError(
            "standard input is open for writing only",
            file="<stdin>",
            hint="redirect it for reading (ce-eval - < preds.csv), or name a file",
        )


def _spool(stream: Any, handle: Any, name: str) -> None:
    """Copy ``stream`` to ``handle``. A non-blocking stream (its caller set O_NONBLOCK) that has
    nothing yet is waited on, not taken for its end (it was reported as empty input). Errors
    reading name the input; errors writing are the spool's own (a full disk)."""
    import select

    while True:
        try:
            chunk = stream.read(1 << 20)
        except BlockingIOError:
            chunk = None
        except OSError as exc:
            raise InputFormatError(f"cannot read it ({exc.strerror})", file=name) from None
        if chunk is None:  # non-blocking, and nothing to read yet
            select.select([stream], [], [])
            continue
        if not chunk:
            return
        handle.write(chunk)


def _open_stream(stream: Any, name: str, input_format: str | None) -> Source:
    """A stream read once (standard input, a FIFO) is spooled to a temporary file, its format
    sniffed from the first bytes unless given."""
    handle = tempfile.NamedTemporaryFile(prefix="ce-eval-stdin-", delete=False)
    try:
        with handle:
            _spool(stream, handle, name)
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


_OPENERS: dict[str, Callable[[str, str], Source]] = {
    "parquet": _open_parquet,
    "csv": _open_delimited(",", "csv"),
    "tsv": _open_delimited("\t", "tsv"),
    "arrow": _open_arrow,
    "jsonl": _open_jsonl,
}
