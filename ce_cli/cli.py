"""The command line: parse options, call :func:`ce_cli.api.evaluate`, render, map errors to exits.

Exit codes: 0 success, 1 a quality gate failed, 2 bad usage or bad input, 3 internal error.
Failures print one line to stderr and nothing to stdout; ``--debug`` adds the traceback.
Heavy modules (NumPy, pyarrow) are imported only once there is work to do, so ``--help`` and
``--version`` start fast.
"""

from __future__ import annotations

import os
import sys
from enum import Enum
from typing import Annotated, Any

import typer

from ce_cli._version import __version__

EXAMPLES = """
Examples:

  ce-eval preds.parquet                                  # multi-class, columns p_* and label

  ce-eval preds.csv --loss focal --gamma 2 --alpha 0.25  # binary focal loss (one column P(y=1))

  ce-eval logits.csv --logits --smoothing 0.1 --class-weights balanced --base bits

  ce-eval tags.parquet --target-cols 'y_*' --task multilabel     # multi-label, sigmoid outputs

  ce-eval soft.parquet --target-cols 't_*' --prob-cols 'p_*'     # soft labels

  cat preds.csv | ce-eval - --format json -o report.json --per-sample losses.parquet
"""


class TaskChoice(str, Enum):
    auto = "auto"
    binary = "binary"
    multiclass = "multiclass"
    multilabel = "multilabel"


class LossChoice(str, Enum):
    ce = "ce"
    focal = "focal"


class FormatChoice(str, Enum):
    table = "table"
    json = "json"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ce-eval {__version__}")
        raise typer.Exit(0)


app = typer.Typer(
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)

_COLUMNS = "Columns"
_LOSS = "Loss"
_OUTPUT = "Output"


@app.command(
    help="Evaluate predicted probabilities or logits against true labels.", epilog=EXAMPLES
)
def evaluate_command(
    predictions: Annotated[
        str,
        typer.Argument(
            metavar="PREDICTIONS",
            help="Predictions file (.parquet, .csv, .tsv, .csv.gz, .arrow/.feather, .jsonl), "
            "or - for standard input.",
            show_default=False,
        ),
    ],
    label_col: Annotated[
        str | None,
        typer.Option(
            help="True class: integer index or class name. Default: first of "
            "label, y, y_true, target, labels.",
            rich_help_panel=_COLUMNS,
        ),
    ] = None,
    prob_cols: Annotated[
        str | None,
        typer.Option(
            help="Prediction columns: comma list or glob (p_*), or one list column. "
            "Default: p_*, prob_*, logit_*, else one list column, else other numeric.",
            rich_help_panel=_COLUMNS,
        ),
    ] = None,
    target_cols: Annotated[
        str | None,
        typer.Option(
            help="Per-class targets: multi-hot (multi-label) or soft labels.",
            rich_help_panel=_COLUMNS,
        ),
    ] = None,
    weight_col: Annotated[
        str | None, typer.Option(help="Per-sample weights.", rich_help_panel=_COLUMNS)
    ] = None,
    id_col: Annotated[
        str | None,
        typer.Option(help="Id column, carried into --per-sample output.", rich_help_panel=_COLUMNS),
    ] = None,
    labels: Annotated[
        str | None,
        typer.Option(
            "--labels",
            help="Labels in a separate file, joined on --id-col (or by row order).",
            rich_help_panel=_COLUMNS,
        ),
    ] = None,
    classes: Annotated[
        str | None,
        typer.Option(
            help="Comma list fixing the class names and their order.", rich_help_panel=_COLUMNS
        ),
    ] = None,
    ignore_label: Annotated[
        str | None,
        typer.Option(
            help="Leave out rows with this label (like PyTorch's ignore_index); they are counted.",
            rich_help_panel=_COLUMNS,
        ),
    ] = None,
    on_nan: Annotated[
        str,
        typer.Option(
            help="Rows with a missing, NaN or infinite value: 'error' or 'drop' "
            "(dropped rows are counted).",
            rich_help_panel=_COLUMNS,
        ),
    ] = "error",
    renormalize: Annotated[
        bool,
        typer.Option(
            help="Divide probability rows that do not sum to 1 by their sum "
            "(counted) instead of stopping.",
            rich_help_panel=_COLUMNS,
        ),
    ] = False,
    logits: Annotated[
        bool | None,
        typer.Option(
            "--logits/--probs",
            help="What the prediction columns hold. Default: "
            "detected from names and the first rows.",
            show_default=False,
        ),
    ] = None,
    task: Annotated[TaskChoice, typer.Option(help="Task.")] = TaskChoice.auto,
    loss: Annotated[LossChoice, typer.Option(help="Loss variant.", rich_help_panel=_LOSS)] = (
        LossChoice.ce
    ),
    gamma: Annotated[
        float, typer.Option(help="Focal focusing parameter, >= 0.", rich_help_panel=_LOSS)
    ] = 2.0,
    alpha: Annotated[
        float | None,
        typer.Option(
            help="Focal weight of the positive class (binary/multi-label), in [0, 1].",
            rich_help_panel=_LOSS,
        ),
    ] = None,
    smoothing: Annotated[
        float, typer.Option(help="Label smoothing epsilon, in [0, 1).", rich_help_panel=_LOSS)
    ] = 0.0,
    class_weights: Annotated[
        str | None,
        typer.Option(
            help="Comma list, one weight per class, or 'balanced'.", rich_help_panel=_LOSS
        ),
    ] = None,
    base: Annotated[str, typer.Option(help="Log base: nats (e), bits (2) or bans (10).")] = "nats",
    bins: Annotated[int, typer.Option(help="Calibration bins.")] = 15,
    output_format: Annotated[
        FormatChoice, typer.Option("--format", help="Report format.", rich_help_panel=_OUTPUT)
    ] = FormatChoice.table,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            help="Write the report there (atomically) instead of stdout.",
            rich_help_panel=_OUTPUT,
        ),
    ] = None,
    per_sample: Annotated[
        str | None,
        typer.Option(
            help="Per-sample results (.parquet, .csv, .jsonl; - for CSV on stdout).",
            rich_help_panel=_OUTPUT,
        ),
    ] = None,
    input_format: Annotated[
        str | None,
        typer.Option(
            help="Input format when the name does not say (parquet, csv, tsv, arrow, jsonl)."
        ),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress on stderr.", rich_help_panel=_OUTPUT)
    ] = False,
    debug: Annotated[bool, typer.Option(help="Show tracebacks on errors.", hidden=True)] = False,
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = None,
) -> None:
    from ce_cli.api import evaluate
    from ce_cli.settings import Settings

    settings = Settings(
        label_col=label_col,
        prob_cols=prob_cols,  # type: ignore[arg-type]
        target_cols=target_cols,  # type: ignore[arg-type]
        weight_col=weight_col,
        id_col=id_col,
        logits=logits,
        task=task.value,  # type: ignore[arg-type]
        loss=loss.value,  # type: ignore[arg-type]
        gamma=gamma,
        alpha=alpha,
        smoothing=smoothing,
        class_weights=class_weights,
        base=base,
        bins=bins,
        input_format=input_format,
        classes=classes,  # type: ignore[arg-type]
        ignore_label=ignore_label,
        on_nan=on_nan,
        renormalize=renormalize,
        labels_file=labels,
    )
    if per_sample == "-" and (output is None or output == "-"):
        from ce_cli.errors import UsageError

        raise UsageError(
            "--per-sample - and the report would both go to stdout",
            hint="add -o report.json (or -o report.txt) to send the report to a file",
        )
    report = evaluate(predictions, settings=settings, per_sample=per_sample)
    _emit(report, output_format, output)


def _emit(report: Any, output_format: FormatChoice, output: str | None) -> None:
    from ce_cli.atomic import write_text_atomically

    if output_format is FormatChoice.json:
        from ce_cli.render.json import render_json

        text = render_json(report)
    else:
        from ce_cli.render.table import render_table

        to_terminal = output is None and sys.stdout.isatty()
        color = to_terminal and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"
        width = os.get_terminal_size().columns if to_terminal else 100
        text = render_table(report, color=color, width=max(width, 60))
    write_text_atomically(output or "-", text)


def _fail(message: str, code: int) -> int:
    sys.stdout.flush()
    print(f"ce-eval: error: {message}", file=sys.stderr)
    return code


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
    sys.meta_path.insert(0, finder)  # type: ignore[arg-type]
    return finder


def main(argv: list[str] | None = None) -> int:
    """Run the command with ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    finder = _keep_pandas_out()
    try:
        return _run(args, debug)
    finally:
        if finder is not None:
            sys.meta_path.remove(finder)  # type: ignore[arg-type]


def _run(args: list[str], debug: bool) -> int:
    from ce_cli.errors import CeEvalError

    try:  # typer >= 0.29 carries its own click; older releases raise click's exceptions
        from typer import TyperException as ParseError
    except ImportError:  # pragma: no cover - depends on the installed typer
        from click import ClickException as ParseError

    command = typer.main.get_command(app)
    try:
        command.main(args=args, prog_name="ce-eval", standalone_mode=False)
    except CeEvalError as error:
        if debug:
            raise
        return _fail(str(error), error.exit_code)
    except typer.Exit as done:
        return int(done.exit_code or 0)
    except typer.Abort:
        return _fail("interrupted", 130)
    except ParseError as error:
        if debug:
            raise
        message = error.format_message().replace("\n", " ")
        return _fail(f"{message} (see ce-eval --help)", 2)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception as error:  # a bug: say so in one line, exit 3
        if debug:
            raise
        return _fail(
            f"internal error: {type(error).__name__}: {error} "
            "(rerun with --debug for the traceback, and please report it)",
            3,
        )
    return 0


def entrypoint() -> None:
    """Console-script entry point."""
    sys.exit(main())
