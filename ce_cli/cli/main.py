"""The command as a process: ``main(argv) -> exit code`` and the console script's
``entrypoint``. Every error becomes one line on stderr and its exit code (0 success, 1 a gate
failed, 2 bad usage or input, 3 internal, 130 interrupted, 141 closed pipe); warnings are held and
printed once; SIGTERM and closed standard streams end cleanly; config-file defaults are applied."""

from __future__ import annotations

import os
import sys
from typing import Any

import typer

from ce_cli.cli.app import app, compare_app


class _NoPandas:
    """A meta-path finder under which ``import pandas`` fails as if it were not installed."""

    @staticmethod
    def find_spec(name: str, path: object = None, target: object = None) -> None:
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


def _keep_pandas_out() -> _NoPandas | None:
    """Stop pyarrow from importing pandas (~0.35 s) in the command's own process.

    pyarrow probes for pandas on its first NumPy conversion whenever pandas is installed; the
    command never hands it a DataFrame, so to pyarrow pandas looks not installed. The Python API
    does not do this: a notebook keeps its pandas.
    """
    if "pandas" in sys.modules or any(isinstance(f, _NoPandas) for f in sys.meta_path):
        return None
    finder = _NoPandas()
    sys.meta_path.insert(0, finder)
    return finder


_Config = tuple[str, dict[str, Any], dict[str, Any]]


def _config_defaults(args: list[str], command: Any, other: Any) -> _Config | None:
    """The configuration file's path, the option defaults it gives and its table, if there is
    one. Keys only ``other`` (the other command) knows are passed over: one file serves both."""
    explicit = None
    for i, arg in enumerate(args):
        if arg == "--config" and i + 1 < len(args):
            explicit = args[i + 1]
        elif arg.startswith("--config="):
            explicit = arg.split("=", 1)[1]
    from ce_cli.cli.config import find_config, to_default_map

    found = find_config(explicit)
    if found is None:
        return None
    path, table = found
    known = {p.name for p in command.params if p.name}
    others = frozenset(p.name for p in other.params if p.name)
    return path, to_default_map(table, path, known, others), table


def _from_config(error: Exception, config: _Config | None) -> str | None:
    """For an option value that failed to parse and came from the configuration file: where
    it came from (the file and the key), to follow the message; None otherwise."""
    param, ctx = getattr(error, "param", None), getattr(error, "ctx", None)
    if config is None or param is None or ctx is None or param.name not in config[1]:
        return None
    source = ctx.get_parameter_source(param.name)
    if source is None or source.name != "DEFAULT_MAP":
        return None
    from ce_cli.cli.config import config_name

    path, _, table = config
    key = next((k for k in table if config_name(k) == param.name), param.name)
    return f"{path}: config key '{key}' = {table[key]!r}" if key in table else None


def _config_origin(message: str, config: _Config | None, command: Any, args: list[str]) -> str:
    """Where an option the error names (``--max``) took its value from the configuration file
    and not the command line: `` (from FILE, key 'max')``; else empty."""
    import re

    if config is None:
        return ""
    from ce_cli.cli.config import config_name

    path, defaults, table = config
    for option in re.findall(r"(--[a-z][a-z-]*)", message):
        for param in command.params:
            from_file = option in getattr(param, "opts", ()) and param.name in defaults
            if from_file and _given_value(args, param) is None and option not in args:
                key = next((k for k in table if config_name(k) == param.name), param.name)
                return f" (from {path}, key '{key}')"
    return ""


def _fail(message: str, code: int) -> int:
    import contextlib

    from ce_cli.printable import printable

    with contextlib.suppress(Exception):  # stdout may be closed, or a closed pipe
        sys.stdout.flush()
    if sys.stderr is not None:
        with contextlib.suppress(OSError, ValueError):
            print(f"ce-eval: error: {printable(message)}", file=sys.stderr, flush=True)
    return code


def main(argv: list[str] | None = None) -> int:
    """Run the command with ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    import warnings

    from ce_cli.errors import CeEvalWarning

    args = list(sys.argv[1:] if argv is None else argv)
    finder = _keep_pandas_out()
    held: list[str] = []
    try:
        with warnings.catch_warnings():
            # A flag that contradicts the data: one line on stderr, and the run goes on. The
            # lines are held to the end: a run that fails prints its one error line alone.
            warnings.simplefilter("always", CeEvalWarning)
            warnings.showwarning = _holder(held)
            code = _run(args, debug="--debug" in args)
        if code in (0, 1):
            _print_warnings(held)
        return code
    finally:
        if finder is not None:
            sys.meta_path.remove(finder)


def _holder(held: list[str]) -> Any:
    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: Any = None,
        line: str | None = None,
    ) -> None:
        from ce_cli.errors import CeEvalWarning

        if issubclass(category, CeEvalWarning):  # a library's own warning is not the user's
            held.append(str(message))

    return show


def _print_warnings(held: list[str]) -> None:
    import contextlib

    from ce_cli.printable import printable

    for message in dict.fromkeys(held):  # each once, in order
        if sys.stderr is not None:
            with contextlib.suppress(OSError, ValueError):
                print(f"ce-eval: warning: {printable(message)}", file=sys.stderr, flush=True)


def _parse_error_types() -> tuple[type[Exception], ...]:
    """The option-parsing exceptions: typer >= 0.29 carries its own click, older ones use click."""
    found: list[type[Exception]] = []
    try:
        from typer import TyperException

        found.append(TyperException)
    except ImportError:  # pragma: no cover - depends on the installed typer
        pass
    try:
        import click

        found.append(click.ClickException)
    except ImportError:
        pass
    return tuple(found)


def _given_value(args: list[str], param: Any) -> str | None:
    """The text given on the command line for an option that failed to parse (the last one
    given wins, as in parsing), so the error can show it; None when not found."""
    names = [*getattr(param, "opts", ()), *getattr(param, "secondary_opts", ())]
    names = [n for n in names if n.startswith("-")]
    value = None
    for i, arg in enumerate(args):
        for option in names:
            if arg == option and i + 1 < len(args):
                value = args[i + 1]
            elif arg.startswith(option + "=") and option.startswith("--"):
                value = arg[len(option) + 1 :]
    return value


PIPE_CLOSED = 141  # 128 + SIGPIPE


def _os_error_message(error: OSError) -> str:
    """One line for an error the system raised (disk full, file-size limit, I/O error)."""
    import errno

    reason = error.strerror or str(error)
    name = getattr(error, "filename", None)
    where = f"{name}: " if name and ".ce-eval-" not in os.path.basename(str(name)) else ""
    if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        if error.errno == errno.EFBIG:
            reason += "; a file-size limit (ulimit -f) stopped the output"
        return f"{where}cannot write an output ({reason}); nothing was replaced"
    return f"{where}{reason}"


def _run(args: list[str], debug: bool) -> int:
    import contextlib
    import traceback

    from ce_cli.errors import CeEvalError, PipeClosed

    parse_errors = _parse_error_types()

    if args and args[0] == "compare":
        command, args, name = typer.main.get_command(compare_app), args[1:], "ce-eval compare"
        other = typer.main.get_command(app)
    else:
        command, name = typer.main.get_command(app), "ce-eval"
        other = typer.main.get_command(compare_app)
    options = set(args[: args.index("--")] if "--" in args else args)
    if {"--logits", "--probs"} <= options:  # a bool flag pair: click would let the last one win
        return _fail(f"--logits and --probs contradict each other; give one (see {name} --help)", 2)
    config: _Config | None = None
    defaults: dict[str, Any] | None = None
    try:
        if not any(a in ("-h", "--help", "--version") for a in args):
            config = _config_defaults(args, command, other)
            defaults = config[1] if config else None
        # Without standalone mode, click hands back an Exit's code instead of raising it.
        code = command.main(args=args, prog_name=name, standalone_mode=False, default_map=defaults)
        if code == 130:  # typer turns Ctrl-C into a silent exit code 130; ce-eval has no other
            return _fail("interrupted", 130)
        if isinstance(code, int):
            return code
    except CeEvalError as error:
        if debug:  # the traceback, then the exit code the error has without --debug
            traceback.print_exc()
        return _fail(
            str(error) + _config_origin(str(error), config, command, args), error.exit_code
        )
    except typer.Exit as done:
        return int(done.exit_code or 0)
    except typer.Abort:
        return _fail("interrupted", 130)
    except parse_errors as error:
        if debug:  # the traceback, then the exit code the error has without --debug
            traceback.print_exc()
        format_message = getattr(error, "format_message", None)
        message = (format_message() if format_message else str(error)).replace("\n", " ")
        given = _given_value(args, getattr(error, "param", None))
        origin = _from_config(error, config)
        if origin is not None:
            return _fail(f"{origin}: {message}", 2)
        if given is not None and repr(given) not in message:
            message += f" (got {given!r})"
        return _fail(f"{message} (see {name} --help)", 2)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except (BrokenPipeError, PipeClosed):
        # The reader of stdout closed the pipe (`| head -1`): end quietly, as cat, grep and
        # seq do, with the code a shell gives a process ended by SIGPIPE (128 + 13), never 1,
        # which means a failed gate. Later writes to stdout go to /dev/null.
        with contextlib.suppress(OSError, ValueError, AttributeError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return PIPE_CLOSED
    except MemoryError:
        if debug:  # the traceback, then the exit code the error has without --debug
            traceback.print_exc()
        return _fail(
            "out of memory; an option may ask for more than fits (see --help for the limits)",
            2,
        )
    except OSError as error:  # the system refused: a full disk, a file-size limit, I/O
        if debug:  # the traceback, then the exit code the error has without --debug
            traceback.print_exc()
        return _fail(_os_error_message(error), 2)
    except Exception as error:  # a bug: say so in one line, exit 3
        if debug:  # the traceback, then the exit code the error has without --debug
            traceback.print_exc()
        return _fail(
            f"internal error: {type(error).__name__}: {error} "
            "(rerun with --debug for the traceback, and please report it)",
            3,
        )
    return 0


def _stop_on_sigterm() -> None:
    """SIGTERM (a CI job cancelled or timed out) unwinds like Ctrl-C, so temporary files go."""
    import signal

    def terminated(signum: int, frame: object) -> None:
        raise SystemExit(_fail("terminated", 128 + signum))

    signal.signal(signal.SIGTERM, terminated)


class _ClosedStream:
    """Stands in for a standard stream that was closed when the command started (``>&-``):
    writing to it is an error the command reports in one line."""

    ce_eval_closed = True

    def __init__(self, name: str, discard: bool = False) -> None:
        self.name = name
        self.discard = discard  # stderr: messages have nowhere to go, and are dropped

    def write(self, text: str) -> int:
        if self.discard:
            return len(text)
        raise OSError(9, f"{self.name} is closed")

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        raise OSError(9, f"{self.name} is closed")


def _guard_closed_streams() -> None:
    """A standard stream closed by the caller (``>&-``, ``<&-``, ``2>&-``) is held open on
    /dev/null, so that no file ce-eval opens takes its descriptor (a report must never land
    in an input), and is marked closed, so that using it is a one-line error."""
    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        try:
            os.fstat(fd)
        except OSError:
            opened = os.open(os.devnull, os.O_RDWR)
            if opened != fd:
                os.dup2(opened, fd)
                os.close(opened)
            if name == "stdout":
                sys.stdout = _ClosedStream("standard output")
            elif name == "stdin":
                sys.stdin = None
            else:
                sys.stderr = _ClosedStream("standard error", discard=True)


def entrypoint() -> None:
    """Console-script entry point."""
    _guard_closed_streams()
    if not any(a in ("-h", "--help", "--version") for a in sys.argv[1:]):
        import signal

        from ce_cli.cli.allocator import keep_freed_memory_for_reuse

        keep_freed_memory_for_reuse()
        _stop_on_sigterm()
        if hasattr(signal, "SIGXFSZ"):  # past ulimit -f a write fails with EFBIG instead
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        code = main()
    finally:
        atomic = sys.modules.get("ce_cli.io.atomic")  # not imported just for this
        if atomic is not None:
            atomic.remove_unfinished()
    sys.exit(code)
