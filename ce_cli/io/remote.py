"""Remote inputs through fsspec: ``s3://``, ``gs://``, ``https://``, ``memory://``, ``file://``…

A path with a URL scheme is opened with fsspec (an optional dependency, as is each scheme's own
package: s3fs, gcsfs, aiohttp, adlfs). Parquet is read in place (pyarrow asks for the byte ranges
it needs: the footer, then the row groups' columns); a directory or glob of Parquet files is
listed by the filesystem. Text formats (CSV, TSV, JSON Lines) and Arrow files are copied to a
local temporary file first, as standard input is, and read from there. Without the package a
scheme needs, the error names it.
"""

from __future__ import annotations

import re
from typing import Any

from ce_cli.errors import InputFormatError, UsageError

# The package fsspec needs for each scheme (fsspec's own message says the same, less briefly).
_PACKAGES = {
    "s3": "s3fs",
    "s3a": "s3fs",
    "gs": "gcsfs",
    "gcs": "gcsfs",
    "http": "aiohttp",
    "https": "aiohttp",
    "az": "adlfs",
    "abfs": "adlfs",
    "abfss": "adlfs",
    "hf": "huggingface_hub",
}
_URL = re.compile(r"^(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*)://")


def is_url(path: str) -> bool:
    """Whether ``path`` names a location by URL (``scheme://…``) rather than a local path."""
    return _URL.match(path) is not None


def filesystem(url: str) -> tuple[Any, str]:
    """The fsspec filesystem of ``url`` and the path within it."""
    match = _URL.match(url)
    assert match is not None
    scheme = match["scheme"].lower()
    package = _PACKAGES.get(scheme)
    try:
        import fsspec
    except ImportError:
        extra = f" and {package}" if package else ""
        raise UsageError(
            f"reading {scheme}:// paths needs the fsspec package{extra}",
            file=url,
            hint=f"pip install fsspec{' ' + package if package else ''}",
        ) from None
    try:
        fs, path = fsspec.core.url_to_fs(url)
    except ImportError as exc:
        name = package or _first_line(exc)
        raise UsageError(
            f"reading {scheme}:// paths needs the {name} package",
            file=url,
            hint=f"pip install {package}" if package else None,
        ) from None
    except ValueError as exc:
        raise UsageError(
            f"no filesystem for {scheme}:// paths ({_first_line(exc)})", file=url
        ) from None
    return fs, path


def input_file(path: str) -> Any:
    """What pyarrow reads ``path`` from: the path itself, or an fsspec file for a URL."""
    if not is_url(path):
        return path
    fs, inner = filesystem(path)
    try:
        return fs.open(inner, "rb")
    except FileNotFoundError:
        raise InputFormatError("no such file", file=path, hint="check the path") from None


def list_parquet(url: str) -> list[str] | None:
    """The Parquet files of a remote directory (searched recursively) or glob, as URLs in sorted
    path order (``.parquet`` then ``.pq``, as for local directories); ``None`` for a single
    file."""
    fs, path = filesystem(url)
    scheme = url[: url.index("://") + 3]
    if any(c in path for c in "*?["):
        found = sorted(p for p in fs.glob(path) if fs.isfile(p))
    elif fs.isdir(path):
        every = [p for p in fs.find(path) if fs.isfile(p)]
        found = sorted(p for p in every if p.endswith(".parquet"))
        found += sorted(p for p in every if p.endswith(".pq"))
    else:
        return None
    return [_as_url(scheme, p, fs) for p in found]


def size(path: str) -> int | None:
    fs, inner = filesystem(path)
    try:
        return int(fs.size(inner))
    except (OSError, TypeError, ValueError):
        return None


def exists(url: str) -> bool:
    fs, inner = filesystem(url)
    return bool(fs.exists(inner))


def _as_url(scheme: str, path: str, fs: Any) -> str:
    unstripped: str = fs.unstrip_protocol(path)
    return unstripped if "://" in unstripped else scheme + path.lstrip("/")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
