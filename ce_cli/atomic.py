"""Atomic file output: write beside the target, then ``os.replace``; never a half-written file.

If anything fails before :meth:`AtomicOutput.commit`, the temporary file is removed and an existing
file at the target path is left exactly as it was. :func:`check_destination` says up front,
before any work, whether a path can be written at all.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from ce_cli.errors import OutputError


def check_destination(path: str, option: str = "the output") -> None:
    """Raise :class:`~ce_cli.errors.OutputError` unless ``path`` (``-``: stdout) can be written:
    not a directory, in a directory that exists and is writable."""
    if path == "-":
        return
    if os.path.isdir(path):
        raise OutputError(
            f"{option} names a directory", file=path, hint="give a file name inside it"
        )
    directory = Path(path).resolve().parent
    if not directory.is_dir():
        raise OutputError(
            f"{option} is in a directory that does not exist",
            file=path,
            hint=f"create {directory} first",
        )
    if not os.access(directory, os.W_OK | os.X_OK):
        raise OutputError(f"{option} is in a directory that cannot be written", file=path)


class AtomicOutput:
    """A temporary file that becomes ``path`` on :meth:`commit` (``-`` copies it to stdout).

    The temporary file keeps ``path``'s suffix (``-``: ``suffix``), so a writer that picks its
    format by extension can be handed :attr:`temp_path`.
    """

    def __init__(self, path: str, option: str = "the output", suffix: str = ".tmp") -> None:
        check_destination(path, option)
        self.path = path
        # A symlink is written through: the file it points to is replaced, from a temporary
        # file beside it (os.replace cannot cross file systems).
        self.target = path if path == "-" else str(Path(path).resolve())
        if path == "-":
            directory = tempfile.gettempdir()
        else:
            directory = os.path.dirname(self.target)
            suffix = _suffix(path) or suffix
        try:
            fd, self.temp_path = tempfile.mkstemp(prefix=".ce-eval-", suffix=suffix, dir=directory)
        except OSError as exc:
            raise OutputError(f"cannot write there ({exc.strerror})", file=path) from None
        os.close(fd)
        self._done = False

    def commit(self) -> None:
        """Move the finished file into place (or copy it to stdout)."""
        if self._done:
            return
        if self.path == "-":
            sys.stdout.flush()
            with open(self.temp_path, "rb") as f:
                shutil.copyfileobj(f, sys.stdout.buffer)
            sys.stdout.buffer.flush()
            os.unlink(self.temp_path)
        else:
            if os.path.exists(self.target):
                with contextlib.suppress(OSError):
                    shutil.copymode(self.target, self.temp_path)
            else:
                os.chmod(self.temp_path, 0o644)
            try:
                os.replace(self.temp_path, self.target)
            except OSError as exc:
                self.abort()
                raise OutputError(f"cannot write there ({exc.strerror})", file=self.path) from None
        self._done = True

    def abort(self) -> None:
        """Remove the temporary file; the target is untouched."""
        if not self._done:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.temp_path)
            self._done = True

    def __enter__(self) -> AtomicOutput:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()

    def open_binary(self) -> BinaryIO:
        return open(self.temp_path, "wb")


def _suffix(path: str) -> str:
    """``report.json`` → ``.json``; ``s.csv.gz`` → ``.csv.gz``; no suffix → ``''``."""
    suffixes = Path(path).suffixes
    if len(suffixes) >= 2 and suffixes[-1].lower() == ".gz":
        return "".join(suffixes[-2:])
    return suffixes[-1] if suffixes else ""


def write_text_atomically(path: str, text: str, option: str = "the output") -> None:
    """Write ``text`` to ``path`` (``-``: stdout) so that readers see all of it or nothing."""
    if path == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    with AtomicOutput(path, option) as out, open(out.temp_path, "w", encoding="utf-8") as f:
        f.write(text)
