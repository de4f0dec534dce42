"""Atomic file output: write beside the target, then ``os.replace``; never a half-written file.

If anything fails before :meth:`AtomicOutput.commit`, the temporary file is removed and an existing
file at the target path is left exactly as it was.
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


class AtomicOutput:
    """A temporary file that becomes ``path`` on :meth:`commit` (``-`` copies it to stdout)."""

    def __init__(self, path: str) -> None:
        self.path = path
        directory = tempfile.gettempdir() if path == "-" else str(Path(path).resolve().parent)
        if path != "-" and not os.path.isdir(directory):
            from ce_cli.errors import UsageError

            raise UsageError("the output's directory does not exist", file=path)
        fd, self.temp_path = tempfile.mkstemp(prefix=".ce-eval-", suffix=".tmp", dir=directory)
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
            if os.path.exists(self.path):
                with contextlib.suppress(OSError):
                    shutil.copymode(self.path, self.temp_path)
            else:
                os.chmod(self.temp_path, 0o644)
            os.replace(self.temp_path, self.path)
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


def write_text_atomically(path: str, text: str) -> None:
    """Write ``text`` to ``path`` (``-``: stdout) so that readers see all of it or nothing."""
    if path == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    with AtomicOutput(path) as out, open(out.temp_path, "w", encoding="utf-8") as f:
        f.write(text)
