"""Where the command's output goes: rendering in the chosen format (colour and width for a
terminal), writing the report and the per-sample files, the figures, and refusing an output path
that is one of the inputs."""

from __future__ import annotations

import os
import sys
from typing import Any

from ce_cli.cli.options import FormatChoice


def _plot_outputs(plots: list[str] | None) -> dict[str, str | None]:
    """The --plot paths as named outputs (``--plot``, ``--plot #2``, …)."""
    return {("--plot" if i == 0 else f"--plot #{i + 1}"): p for i, p in enumerate(plots or [])}


def _pipe_guard() -> Any:
    """A reader that closes stdout early surfaces as :class:`~ce_cli.errors.PipeClosed`."""
    import contextlib

    from ce_cli.errors import PipeClosed

    @contextlib.contextmanager
    def guard() -> Any:
        try:
            yield
        except BrokenPipeError:
            raise PipeClosed() from None

    return guard()


def _refuse_inputs_as_outputs(
    outputs: dict[str, str | None],
    inputs: list[str | None],
    config: str | None,
    to_stdout: str | None = None,
) -> None:
    """No output may be an input (the predictions, the labels, the baseline, the config
    file; the files of a directory or glob): checked before anything is read."""
    import glob

    from ce_cli.cli.config import find_config
    from ce_cli.io.atomic import refuse_inputs_as_outputs, refuse_stdout_as_input

    files: list[str] = []
    for path in inputs:
        if path is None or path == "-":
            continue
        if os.path.isdir(path):
            files += [os.path.join(path, name) for name in sorted(os.listdir(path))]
        elif not os.path.exists(path) and any(c in path for c in "*?["):
            files += glob.glob(path, recursive=True)
        else:
            files.append(path)
    if any(p not in (None, "-") for p in outputs.values()):
        try:
            found = find_config(config)
        except Exception:  # a broken config file is reported where it is read
            found = None
        if found is not None:
            files.append(found[0])
    refuse_inputs_as_outputs(outputs, files)
    if to_stdout is not None:
        refuse_stdout_as_input(files, to_stdout)


def _check_plots(paths: list[str] | None, *others: str | None) -> None:
    """Before any input is read: each --plot path has a known extension, can be written and is
    no other output's file, and matplotlib is installed (else one line on how to install it)."""
    if not paths:
        return
    from ce_cli.errors import UsageError
    from ce_cli.io.atomic import check_destination
    from ce_cli.plot import plot_format, require_matplotlib

    taken = {os.path.realpath(p) for p in others if p not in (None, "-")}
    for path in paths:
        plot_format(path)
        check_destination(path, "--plot")
        if os.path.realpath(path) in taken:
            raise UsageError(
                "--plot names a file that another output writes too",
                value=path,
                hint="give each output its own path",
            )
        taken.add(os.path.realpath(path))
    require_matplotlib()


def _write_plots(paths: list[str] | None, data: dict[str, Any], comparison: bool = False) -> None:
    if paths:
        from ce_cli.plot import write_plots
        from ce_cli.render.json import clean

        write_plots(paths, clean(data), comparison=comparison)


def _images_beside(output: str | None, plots: list[str] | None) -> list[str]:
    """The --plot images (PNG, SVG) in the report's directory or below it, relative to it."""
    if output in (None, "-") or not plots:
        return []
    directory = os.path.dirname(os.path.abspath(output))
    found = []
    for path in plots:
        relative = os.path.relpath(os.path.abspath(path), directory)
        if path.lower().endswith((".png", ".svg")) and not relative.startswith(".."):
            found.append(relative.replace(os.sep, "/"))
    return found


def _stream_is_terminal(stream: Any) -> bool:
    from ce_cli.io.atomic import stdout_closed

    if stream is None or (stream is sys.stdout and stdout_closed()):
        return False
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def _color(output: str | None, stream: Any = None) -> bool:
    to_terminal = output in (None, "-") and _stream_is_terminal(stream or sys.stdout)
    return to_terminal and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def _width(output: str | None, stream: Any = None) -> int:
    stream = stream or sys.stdout
    if output in (None, "-") and _stream_is_terminal(stream):
        try:
            return max(os.get_terminal_size(stream.fileno()).columns, 60)
        except (OSError, ValueError):
            return 80
    return 100


def _render(
    report: Any,
    output_format: FormatChoice,
    output: str | None,
    plots: list[str] | None = None,
    stream: Any = None,
) -> str:
    from ce_cli.render.json import clean, render_json

    if output_format is FormatChoice.json:
        return render_json(report)
    if output_format is FormatChoice.markdown:
        from ce_cli.render.markdown import render_markdown

        return render_markdown(clean(report.to_dict()), images=_images_beside(output, plots))
    if output_format is FormatChoice.junit:
        from ce_cli.render.junit import render_junit

        data = clean(report.to_dict())
        return render_junit(data, data.get("gates", []))
    if output_format is FormatChoice.html:
        from ce_cli.render.html import render_html

        return render_html(clean(report.to_dict()))
    from ce_cli.render.table import render_table

    return render_table(report, color=_color(output, stream), width=_width(output, stream))


def _emit(text: str, output: str | None, samples: Any = None, sequences: Any = None) -> None:
    """Write the report text and put the staged --per-sample (and --per-sequence) file in
    place: files first, stdout last, so an output that fails leaves nothing on stdout."""
    from ce_cli.io.atomic import AtomicOutput, write_stream, write_text_atomically

    report_path = output or "-"
    to_stderr = report_path == "-" and samples is not None and samples.path == "-"
    if sequences is not None and sequences.path != "-":
        sequences.commit()
    if samples is not None and samples.path != "-":
        samples.commit()
    if report_path != "-":
        # Staged in full first; put in place only once per-sample rows on stdout went out
        # too, so a failing stdout leaves an existing report file as it was.
        with AtomicOutput(report_path, "-o") as staged:
            write_text_atomically(staged.temp_path, text, "-o")
            if samples is not None:
                samples.commit()  # to stdout
            if sequences is not None:
                sequences.commit()  # to stdout (--per-sequence -)
    elif samples is not None:
        samples.commit()  # to stdout; already done for a file
    if to_stderr:  # --per-sample - without -o: the rows own stdout, the report goes to stderr
        write_stream(sys.stderr, text, "standard error")
    elif report_path == "-":
        write_text_atomically("-", text, "-o")


def _file_size(path: str) -> int | None:
    """Size of a regular file, for the progress bar (``None`` for stdin, globs, directories)."""
    try:
        return os.path.getsize(path) if path != "-" and os.path.isfile(path) else None
    except OSError:
        return None
