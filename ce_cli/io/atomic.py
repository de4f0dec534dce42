"""File output that never destroys anything: write beside the target, then ``os.replace``.

If anything fails before :meth:`AtomicOutput.commit`, the temporary file is removed and an existing
file at the target path is left exactly as it was. A target that is not a regular file (a device
such as ``/dev/null``, a FIFO, a socket) is written into, never replaced: the text is staged in a
temporary file and copied into it on commit. :func:`check_destination` says up front, before any
work, whether a path can be written at all, and :func:`refuse_inputs_as_outputs` that no output
is one of the inputs. Write errors (a full disk, a file-size limit, a closed stream) become
:class:`~ce_cli.errors.OutputError`, one line; a reader that closed the pipe on standard output
is a :class:`BrokenPipeError`, which the command ends quietly.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from ce_cli.errors import OutputError, UsageError


def stdout_closed() -> bool:
    """Whether standard output was closed when the command started (``>&-``)."""
    return sys.stdout is None or getattr(sys.stdout, "ce_eval_closed", False) is True


def _is_special(path: str) -> bool:
    """Whether ``path`` (after symlinks) exists and is not a regular file or a directory."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def check_destination(path: str, option: str = "the output") -> None:
    """Raise :class:`~ce_cli.errors.OutputError` unless ``path`` (``-``: stdout) can be written:
    not a directory, in a directory that exists and is writable (a device or FIFO that
    exists is written into, so only it must be writable)."""
    if path == "-":
        if stdout_closed():
            # "-" is also the default of -o, so the option is not named: it may not be given.
            raise OutputError(
                "standard output is closed",
                hint="write the report to a file with -o FILE",
            )
        return
    if not path:
        raise OutputError(f"{option} names no file (an empty path)", hint="give a file name")
    if stdout_closed() and os.path.normpath(path) in (
        "/dev/stdout",
        "/dev/fd/1",
        "/proc/self/fd/1",
    ):
        raise OutputError(
            f"{option}: standard output is closed", file=path, hint="write to a file instead"
        )
    if os.path.isdir(path) or path.endswith(("/", os.sep)):
        raise OutputError(
            f"{option} names a directory", file=path, hint="give a file name inside it"
        )
    if _is_special(path):
        if not os.access(path, os.W_OK):
            raise OutputError(f"{option} cannot be written (permission denied)", file=path)
        return
    try:
        mode = os.stat(path).st_mode
    except OSError:
        mode = None
    if mode is not None and stat.S_ISREG(mode) and not mode & 0o222:
        raise OutputError(
            f"{option} names a read-only file",
            file=path,
            hint="make it writable, or pick another path",
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


def refuse_inputs_as_outputs(outputs: dict[str, str | None], inputs: Iterable[str]) -> None:
    """An output that is the same file as an input (directly, through a symlink or a hard
    link: ``os.path.samefile``), or as another output, is a usage error, raised before
    anything is read or written. ``outputs`` maps each option to its path (``-``/``None``:
    none); ``inputs`` are the paths read (files, or the files of a directory or glob)."""
    named = [(option, path) for option, path in outputs.items() if path not in (None, "-")]
    files = list(inputs)
    for option, path in named:
        assert path is not None
        if _is_special(path):
            continue  # /dev/null and FIFOs are written into, never replaced
        for source in files:
            if _same(path, source):
                raise UsageError(
                    f"{option} names an input file; writing there would destroy it",
                    file=path,
                    hint="give the output a path of its own",
                )
    for i, (option, path) in enumerate(named):
        for other_option, other in named[i + 1 :]:
            assert path is not None and other is not None
            if not _is_special(path) and (
                _same(path, other) or os.path.realpath(path) == os.path.realpath(other)
            ):
                raise UsageError(
                    f"{other_option} names a file that another output writes too ({option}): "
                    "the same file, one would overwrite the other",
                    value=path,
                    hint="give each output its own path",
                )


def refuse_stdout_as_input(inputs: Iterable[str], what: str) -> None:
    """Standard output redirected into an input file (``ce-eval preds.csv >> preds.csv``)
    would append to it: refused before anything is read."""
    if stdout_closed():
        return
    try:
        out = os.fstat(sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        return
    if not stat.S_ISREG(out.st_mode):
        return
    for source in inputs:
        try:
            st = os.stat(source)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == (out.st_dev, out.st_ino):
            raise UsageError(
                f"standard output is the input file {source}; the {what} would be written into it",
                hint="redirect stdout elsewhere, or write with -o FILE",
            )


def _same(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


def write_error(exc: OSError, path: str) -> OutputError:
    """A write that failed (disk full, file too large, stream closed) as one line."""
    reason = exc.strerror or str(exc)
    if exc.errno == errno.EFBIG:
        reason += " (a file-size limit, ulimit -f?)"
    where = "standard output" if path == "-" else path
    return OutputError(f"cannot write {where} ({reason})", hint="nothing was replaced")


class AtomicOutput:
    """A temporary file that becomes ``path`` on :meth:`commit` (``-`` copies it to stdout; a
    device or FIFO has it copied into it).

    The temporary file keeps ``path``'s suffix (``-``: ``suffix``), so a writer that picks its
    format by extension can be handed :attr:`temp_path`.
    """

    def __init__(self, path: str, option: str = "the output", suffix: str = ".tmp") -> None:
        check_destination(path, option)
        self.path = path
        # A symlink is written through: the file it points to is replaced, from a temporary
        # file beside it (os.replace cannot cross file systems).
        # A device or FIFO is recognised on the path as given: /dev/stdout is a link to
        # /proc/self/fd/1, whose target may be a pipe with no name on disk.
        self.into = path == "-" or _is_special(path)
        self.target = path if self.into else str(Path(path).resolve())
        if self.into:
            directory = tempfile.gettempdir()
            suffix = (_suffix(path) if path != "-" else "") or suffix
        else:
            directory = os.path.dirname(self.target)
            suffix = _suffix(path) or suffix
        try:
            fd, self.temp_path = tempfile.mkstemp(prefix=".ce-eval-", suffix=suffix, dir=directory)
        except OSError as exc:
            raise OutputError(f"cannot write there ({exc.strerror})", file=path) from None
        _UNFINISHED.add(self.temp_path)
        self._done = False
        os.close(fd)

    def commit(self) -> None:
        """Move the finished file into place (or copy it to stdout, or into a device)."""
        if self._done:
            return
        try:
            if self.path == "-":
                _copy_to_stdout(self.temp_path)
            elif self.into:
                with open(self.temp_path, "rb") as f, _open_into(self.target) as out:
                    shutil.copyfileobj(f, out)
            else:
                if os.path.exists(self.target):
                    with contextlib.suppress(OSError):
                        shutil.copymode(self.target, self.temp_path)
                else:
                    os.chmod(self.temp_path, 0o644)
                os.replace(self.temp_path, self.target)
        except BrokenPipeError:
            self.abort()
            if self.path == "-":
                raise
            raise OutputError("the reader of the output closed it", file=self.path) from None
        except OSError as exc:
            self.abort()
            raise write_error(exc, self.path) from None
        except BaseException:
            self.abort()
            raise
        self.abort()  # removes the staged copy, if any
        self._done = True

    def abort(self) -> None:
        """Remove the temporary file; the target is untouched."""
        if not self._done:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.temp_path)
            _UNFINISHED.discard(self.temp_path)
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


# Temporary files made and not yet committed or removed. A signal can land between the
# constructor and the caller's ``with`` (or inside the constructor), where no ``__exit__`` runs:
# the command removes what is left here as it ends.
_UNFINISHED: set[str] = set()


def remove_unfinished() -> None:
    """Remove every temporary file that was neither committed nor aborted."""
    for path in list(_UNFINISHED):
        with contextlib.suppress(OSError):
            os.unlink(path)
        _UNFINISHED.discard(path)


FIFO_READER_WAIT = 3.0  # seconds a FIFO output may wait for a process to open it for reading


def _open_into(path: str) -> BinaryIO:
    """A device, socket or FIFO opened for writing. A FIFO that no process reads would block
    forever: ce-eval waits up to :data:`FIFO_READER_WAIT` seconds for a reader, then stops."""
    import fcntl
    import time

    if not stat.S_ISFIFO(os.stat(path).st_mode):
        return open(path, "wb")
    deadline = time.monotonic() + FIFO_READER_WAIT
    while True:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError as exc:
            if exc.errno != errno.ENXIO:
                raise
            if time.monotonic() > deadline:
                raise OutputError(
                    f"no process reads this FIFO (waited {FIFO_READER_WAIT:g} s)",
                    file=path,
                    hint="start its reader first",
                ) from None
            time.sleep(0.05)
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    return os.fdopen(fd, "wb")


def _copy_to_stdout(path: str) -> None:
    if stdout_closed():
        raise OSError(errno.EBADF, "standard output is closed")
    sys.stdout.flush()
    fd = _fileno(sys.stdout)
    with open(path, "rb") as f:
        if fd is None:
            shutil.copyfileobj(f, sys.stdout.buffer)
            sys.stdout.buffer.flush()
            return
        while chunk := f.read(1 << 20):
            _write_all(fd, chunk)


def _fileno(stream: object) -> int | None:
    """The stream's file descriptor, or ``None`` (a test's capture, a StringIO)."""
    try:
        return int(stream.fileno())  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return None


def _write_all(fd: int, data: bytes) -> None:
    """Every byte, or an error: a pipe whose reader leaves can take part of a large write and
    end it there, which Python's buffered writer reports as success (the rest lost, exit 0).
    Written by hand, a short write is resumed, and the closed pipe becomes EPIPE."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _suffix(path: str) -> str:
    """``report.json`` → ``.json``; ``s.csv.gz`` → ``.csv.gz``; no suffix → ``''``."""
    suffixes = Path(path).suffixes
    if len(suffixes) >= 2 and suffixes[-1].lower() == ".gz":
        return "".join(suffixes[-2:])
    return suffixes[-1] if suffixes else ""


def write_text_atomically(path: str, text: str, option: str = "the output") -> None:
    """Write ``text`` to ``path`` (``-``: stdout) so that readers see all of it or nothing."""
    if path == "-":
        write_stream(sys.stdout, text, "-")
        return
    with AtomicOutput(path, option) as out:
        try:
            with open(out.temp_path, "w", encoding="utf-8") as f:
                f.write(text)
        except OSError as exc:
            raise write_error(exc, path) from None


def write_stream(stream: object, text: str, name: str) -> None:
    """Write ``text`` to an open text stream (stdout, stderr): a full disk or a closed stream
    is an :class:`~ce_cli.errors.OutputError`; a closed pipe on stdout stays a
    :class:`BrokenPipeError` (ended quietly by the command)."""
    if (
        stream is None
        or (name == "-" and stdout_closed())
        or getattr(stream, "ce_eval_closed", False)
    ):
        raise OutputError(
            "standard output is closed" if name == "-" else f"{name} is closed",
            hint="write the report to a file with -o FILE",
        )
    try:
        fd = _fileno(stream)
        if fd is None:
            stream.write(text)  # type: ignore[attr-defined]
            stream.flush()  # type: ignore[attr-defined]
        else:
            stream.flush()  # type: ignore[attr-defined]
            encoding = getattr(stream, "encoding", None) or "utf-8"
            _write_all(fd, text.encode(encoding, errors="replace"))
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise write_error(exc, name) from None
