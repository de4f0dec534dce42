"""The command line: parse options, call the library, render, and map errors to exit codes.

``ce-eval PREDICTIONS [OPTIONS]`` evaluates one input; ``ce-eval compare A B [OPTIONS]``
compares two. Exit codes: 0 success, 1 a quality gate failed (the report is still written),
2 bad usage or bad input, 3 internal error. A failure prints one line to stderr and nothing to
stdout; ``--debug`` adds the traceback. Heavy modules (NumPy, pyarrow, Rich) are imported only
once there is work to do, so ``--help`` and ``--version`` start fast. Defaults may come from
``ce-eval.toml`` or ``[tool.ce-eval]`` in ``pyproject.toml``; the command line wins.
"""

from __future__ import annotations

import os
import sys
from enum import Enum, StrEnum
from typing import Annotated, Any

import typer

from ce_cli._version import __version__
from ce_cli.settings import Loss, Task

EXAMPLES = """
Examples:

  ce-eval preds.parquet                                  # multi-class, columns p_* and label

  ce-eval preds.csv --loss focal --gamma 2 --alpha 0.25  # binary focal loss (one column P(y=1))

  ce-eval logits.csv --logits --smoothing 0.1 --class-weights balanced --base bits

  ce-eval tags.parquet --target-cols 'y_*' --task multilabel     # multi-label, sigmoid outputs

  ce-eval soft.parquet --target-cols 't_*' --prob-cols 'p_*'     # soft labels

  cat preds.csv | ce-eval - --format json -o report.json --per-sample losses.parquet

  ce-eval preds.parquet --max ece=0.05 --min accuracy=0.9 --ci 0.95   # CI gate (exit 1 on fail)

  ce-eval compare model_a.parquet model_b.parquet --id-col id         # paired comparison

Defaults may come from ce-eval.toml or [tool.ce-eval] in pyproject.toml (the command line
wins). Exit codes: 0 ok, 1 a gate failed, 2 bad usage or input, 3 internal error.
"""


class FormatChoice(StrEnum):
    table = "table"
    json = "json"
    markdown = "markdown"
    junit = "junit"
    html = "html"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ce-eval {__version__}")
        raise typer.Exit(0)


_COLUMNS = "Columns"
_LOSS = "Loss"
_OUTPUT = "Output"
_GATES = "Gates and intervals"

# Options shared by `ce-eval` and `ce-eval compare`, declared once.
LabelCol = Annotated[
    str | None,
    typer.Option(
        help="True class: integer index or class name. "
        "Default: first of label, y, y_true, target, labels.",
        rich_help_panel=_COLUMNS,
    ),
]
ProbCols = Annotated[
    str | None,
    typer.Option(
        help="Prediction columns: comma list or glob (p_*), or one list column. "
        "Default: p_*, prob_*, logit_*, else one list column, else other numeric columns.",
        rich_help_panel=_COLUMNS,
    ),
]
TargetCols = Annotated[
    str | None,
    typer.Option(
        help="Per-class targets: multi-hot (multi-label) or soft labels.",
        rich_help_panel=_COLUMNS,
    ),
]
WeightCol = Annotated[
    str | None, typer.Option(help="Per-sample weights.", rich_help_panel=_COLUMNS)
]
IdCol = Annotated[
    str | None,
    typer.Option(help="Id column (per-sample output, joins).", rich_help_panel=_COLUMNS),
]
Classes = Annotated[
    str | None,
    typer.Option(help="Comma list fixing the class names and order.", rich_help_panel=_COLUMNS),
]
Logits = Annotated[
    bool | None,
    typer.Option(
        "--logits/--probs",
        help="What the prediction columns hold. Default: detected from names and first rows.",
        show_default=False,
    ),
]
TaskOption = Annotated[Task, typer.Option(help="Task.")]
LossOption = Annotated[Loss, typer.Option(help="Loss variant.", rich_help_panel=_LOSS)]
Gamma = Annotated[
    float, typer.Option(help="Focal focusing parameter, >= 0.", rich_help_panel=_LOSS)
]
Alpha = Annotated[
    float | None,
    typer.Option(
        help="Focal weight of the positive class (binary/multi-label), in [0, 1].",
        rich_help_panel=_LOSS,
    ),
]
Smoothing = Annotated[
    float, typer.Option(help="Label smoothing epsilon, in [0, 1).", rich_help_panel=_LOSS)
]
ClassWeights = Annotated[
    str | None,
    typer.Option(help="Comma list, one weight per class, or 'balanced'.", rich_help_panel=_LOSS),
]
Base = Annotated[str, typer.Option(help="Log base: nats (e), bits (2) or bans (10).")]
Seed = Annotated[int, typer.Option(help="Bootstrap seed.", rich_help_panel=_GATES)]
Output = Annotated[
    str | None,
    typer.Option(
        "--output",
        "-o",
        help="Write the report there (atomically) instead of stdout.",
        rich_help_panel=_OUTPUT,
    ),
]
Plot = Annotated[
    list[str] | None,
    typer.Option(
        "--plot",
        metavar="PATH",
        help="Also draw the figures to PATH (.png, .svg or .pdf; repeatable). "
        "Needs matplotlib: pip install 'ce-eval[plot]'.",
        rich_help_panel=_OUTPUT,
    ),
]
Config = Annotated[
    str | None,
    typer.Option(
        help="Read defaults from this TOML file (default: ce-eval.toml or [tool.ce-eval] in "
        "pyproject.toml)."
    ),
]
Debug = Annotated[bool, typer.Option(help="Show tracebacks on errors.", hidden=True)]
Version = Annotated[
    bool | None,
    typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
]


def _settings(**options: Any) -> Any:
    from ce_cli.settings import Settings

    for key in ("task", "loss"):
        if isinstance(options.get(key), Enum):
            options[key] = options[key].value
    return Settings(**options)


app = typer.Typer(
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)


@app.command(
    help="Evaluate predicted probabilities or logits against true labels. "
    "(Also: ce-eval compare A B --help.)",
    epilog=EXAMPLES,
)
def evaluate_command(
    predictions: Annotated[
        str,
        typer.Argument(
            metavar="PREDICTIONS",
            help="Predictions file (.parquet, .csv, .tsv, .csv.gz, .arrow/.feather, .jsonl), a "
            "directory or glob of Parquet files, or - for standard input.",
            show_default=False,
        ),
    ],
    label_col: LabelCol = None,
    prob_cols: ProbCols = None,
    target_cols: TargetCols = None,
    weight_col: WeightCol = None,
    id_col: IdCol = None,
    labels: Annotated[
        str | None,
        typer.Option(
            "--labels",
            help="Labels in a separate file, joined on --id-col (or by row order).",
            rich_help_panel=_COLUMNS,
        ),
    ] = None,
    classes: Classes = None,
    ignore_label: Annotated[
        str | None,
        typer.Option(
            help="Leave out rows with this label (like PyTorch's ignore_index); counted.",
            rich_help_panel=_COLUMNS,
        ),
    ] = None,
    on_nan: Annotated[
        str,
        typer.Option(
            help="Rows with a missing, NaN or infinite value: 'error' or 'drop' (counted).",
            rich_help_panel=_COLUMNS,
        ),
    ] = "error",
    renormalize: Annotated[
        bool,
        typer.Option(
            help="Divide probability rows that do not sum to 1 by their sum (counted) "
            "instead of stopping.",
            rich_help_panel=_COLUMNS,
        ),
    ] = False,
    group_col: Annotated[
        str | None,
        typer.Option(
            help="Also report metrics per value of this column.", rich_help_panel=_COLUMNS
        ),
    ] = None,
    logits: Logits = None,
    task: TaskOption = Task.AUTO,
    loss: LossOption = Loss.CE,
    gamma: Gamma = 2.0,
    alpha: Alpha = None,
    smoothing: Smoothing = 0.0,
    class_weights: ClassWeights = None,
    base: Base = "nats",
    bins: Annotated[int, typer.Option(help="Calibration bins.")] = 15,
    fit_temperature: Annotated[
        bool,
        typer.Option(
            "--fit-temperature",
            help="Fit the one temperature that minimises the cross-entropy and report what it "
            "removes (reads the input several times).",
        ),
    ] = False,
    max_gate: Annotated[
        list[str] | None,
        typer.Option(
            "--max",
            metavar="METRIC=VALUE",
            help="Fail (exit 1) when METRIC > VALUE. Repeatable.",
            rich_help_panel=_GATES,
        ),
    ] = None,
    min_gate: Annotated[
        list[str] | None,
        typer.Option(
            "--min",
            metavar="METRIC=VALUE",
            help="Fail (exit 1) when METRIC < VALUE. Repeatable.",
            rich_help_panel=_GATES,
        ),
    ] = None,
    gate_on_interval: Annotated[
        bool,
        typer.Option(
            help="Gate on the confidence interval's bound (needs --ci), not the point estimate.",
            rich_help_panel=_GATES,
        ),
    ] = False,
    baseline: Annotated[
        str | None,
        typer.Option(
            help="A saved JSON report to compare against (old, new, delta).",
            rich_help_panel=_GATES,
        ),
    ] = None,
    allow_regression: Annotated[
        list[str] | None,
        typer.Option(
            metavar="METRIC=DELTA",
            help="Allowed regression against --baseline (default 0). Repeatable.",
            rich_help_panel=_GATES,
        ),
    ] = None,
    ci: Annotated[
        float | None,
        typer.Option(
            help="Bootstrap confidence intervals at this level, e.g. 0.95.",
            rich_help_panel=_GATES,
        ),
    ] = None,
    bootstrap: Annotated[
        int, typer.Option(help="Bootstrap replicates.", rich_help_panel=_GATES)
    ] = 200,
    seed: Seed = 0,
    output_format: Annotated[
        FormatChoice, typer.Option("--format", help="Report format.", rich_help_panel=_OUTPUT)
    ] = FormatChoice.table,
    output: Output = None,
    plot: Plot = None,
    per_sample: Annotated[
        str | None,
        typer.Option(
            help="Per-sample results (.parquet, .csv, .jsonl; - for CSV on stdout).",
            rich_help_panel=_OUTPUT,
        ),
    ] = None,
    top: Annotated[
        int,
        typer.Option(help="List the K rows with the largest loss.", rich_help_panel=_OUTPUT),
    ] = 0,
    input_format: Annotated[
        str | None,
        typer.Option(
            help="Input format when the name does not say (parquet, csv, tsv, arrow, jsonl)."
        ),
    ] = None,
    engine: Annotated[
        str,
        typer.Option(
            help="Where to compute: local (this process, all cores) or dask (a Dask cluster; "
            "needs ce-eval[dask]).",
        ),
    ] = "local",
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="With --engine dask: the address of a running Dask scheduler (tcp://host:8786); "
            "without it ce-eval starts a local cluster and stops it afterwards.",
        ),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress on stderr.", rich_help_panel=_OUTPUT)
    ] = False,
    config: Config = None,
    debug: Debug = False,
    version: Version = None,
) -> None:
    from ce_cli.api import evaluate
    from ce_cli.atomic import check_destination
    from ce_cli.errors import UsageError
    from ce_cli.progress import ProgressReporter

    settings = _settings(
        label_col=label_col,
        prob_cols=prob_cols,
        target_cols=target_cols,
        weight_col=weight_col,
        id_col=id_col,
        logits=logits,
        task=task,
        loss=loss,
        gamma=gamma,
        alpha=alpha,
        smoothing=smoothing,
        class_weights=class_weights,
        base=base,
        bins=bins,
        fit_temperature=fit_temperature,
        input_format=input_format,
        classes=classes,
        ignore_label=ignore_label,
        on_nan=on_nan,
        renormalize=renormalize,
        labels_file=labels,
        group_col=group_col,
        top=top,
        ci=ci,
        bootstrap=bootstrap,
        seed=seed,
    )
    if per_sample == "-" and (output is None or output == "-"):
        raise UsageError(
            "--per-sample - and the report would both go to stdout",
            hint="add -o report.json (or -o report.txt) to send the report to a file",
        )
    if (
        per_sample not in (None, "-")
        and output not in (None, "-")
        and os.path.realpath(per_sample) == os.path.realpath(output)
    ):
        raise UsageError(
            "-o and --per-sample name the same file; one would overwrite the other",
            value=output,
            hint="give each its own path",
        )
    if gate_on_interval and ci is None:
        raise UsageError("--gate-on-interval needs --ci", hint="e.g. --ci 0.95")
    gates = _parse_gates(max_gate, min_gate)
    allowed = _parse_regressions(allow_regression)
    baseline_report = None
    if baseline is not None:
        from ce_cli.gates import load_baseline

        baseline_report = load_baseline(baseline)
    if output is not None:
        check_destination(output, "-o")
    _check_plots(plot, output, per_sample)
    samples = _stage_per_sample(per_sample)
    try:
        progress = ProgressReporter(enabled=not quiet, size_bytes=_file_size(predictions))
        try:
            report = evaluate(
                predictions,
                settings=settings,
                per_sample=None if samples is None else samples.temp_path,
                progress=progress,
                engine=engine,
                scheduler=scheduler,
            )
        finally:
            progress.close()
        report, failed = _judge(report, gates, gate_on_interval, baseline_report, allowed)
        text = _render(report, output_format, output, plot)
        _write_plots(plot, report.to_dict())
        _emit(text, output, samples)
    except BaseException:
        if samples is not None:
            samples.abort()
        raise
    if failed:
        _annotate(failed)
        raise typer.Exit(1)


def _stage_per_sample(path: str | None) -> Any:
    """The --per-sample file, written to a temporary file and put in place only once the
    report is written too, so a run that fails anywhere leaves an existing file untouched."""
    if path is None:
        return None
    from ce_cli.atomic import AtomicOutput
    from ce_cli.samples_out import format_for

    format_for(path)  # an unknown extension fails now, before the input is read
    return AtomicOutput(path, "--per-sample", suffix=".csv")


compare_app = typer.Typer(
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)


@compare_app.command(
    help="Compare two models' predictions on the same rows: paired per-sample differences "
    "with bootstrap intervals and a verdict per metric.",
    epilog="Example:\n\n  ce-eval compare a.parquet b.parquet --id-col id --ci 0.95\n",
)
def compare_command(
    first: Annotated[str, typer.Argument(metavar="A", help="First model's predictions.")],
    second: Annotated[str, typer.Argument(metavar="B", help="Second model's predictions.")],
    label_col: LabelCol = None,
    prob_cols: ProbCols = None,
    target_cols: TargetCols = None,
    weight_col: WeightCol = None,
    id_col: IdCol = None,
    classes: Classes = None,
    logits: Logits = None,
    task: TaskOption = Task.AUTO,
    loss: LossOption = Loss.CE,
    gamma: Gamma = 2.0,
    alpha: Alpha = None,
    smoothing: Smoothing = 0.0,
    class_weights: ClassWeights = None,
    base: Base = "nats",
    ci: Annotated[float, typer.Option(help="Interval level.", rich_help_panel=_GATES)] = 0.95,
    bootstrap: Annotated[
        int, typer.Option(help="Bootstrap replicates.", rich_help_panel=_GATES)
    ] = 1000,
    seed: Seed = 0,
    output_format: Annotated[
        FormatChoice,
        typer.Option("--format", help="table, json or html.", rich_help_panel=_OUTPUT),
    ] = FormatChoice.table,
    output: Output = None,
    plot: Plot = None,
    config: Config = None,
    debug: Debug = False,
) -> None:
    from ce_cli.atomic import check_destination, write_text_atomically
    from ce_cli.compare import compare, render_compare_table
    from ce_cli.errors import UsageError

    if not (0.0 < ci < 1.0):
        raise UsageError("--ci must lie strictly between 0 and 1", value=ci)
    if output_format not in (FormatChoice.table, FormatChoice.json, FormatChoice.html):
        raise UsageError("compare writes --format table, json or html", value=output_format.value)
    if output is not None:
        check_destination(output, "-o")
    _check_plots(plot, output)
    settings = _settings(
        label_col=label_col,
        prob_cols=prob_cols,
        target_cols=target_cols,
        weight_col=weight_col,
        id_col=id_col,
        classes=classes,
        logits=logits,
        task=task,
        loss=loss,
        gamma=gamma,
        alpha=alpha,
        smoothing=smoothing,
        class_weights=class_weights,
        base=base,
        bootstrap=bootstrap,
        seed=seed,
    )
    result = compare(first, second, level=ci, replicates=bootstrap, settings=settings)
    if output_format is FormatChoice.json:
        import json

        text = json.dumps(result, indent=2) + "\n"
    elif output_format is FormatChoice.table:
        text = render_compare_table(result, color=_color(output), width=_width(output))
    else:
        from ce_cli.render.html import render_compare_html

        text = render_compare_html(result)
    _write_plots(plot, result, comparison=True)
    write_text_atomically(output or "-", text, "-o")


def _check_plots(paths: list[str] | None, *others: str | None) -> None:
    """Before any input is read: each --plot path has a known extension, can be written and is
    no other output's file, and matplotlib is installed (else one line on how to install it)."""
    if not paths:
        return
    from ce_cli.atomic import check_destination
    from ce_cli.errors import UsageError
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


def _parse_gates(max_gate: list[str] | None, min_gate: list[str] | None) -> list[Any]:
    if not max_gate and not min_gate:
        return []
    from ce_cli.gates import parse_gate

    gates = [parse_gate(text, "max") for text in max_gate or []]
    return gates + [parse_gate(text, "min") for text in min_gate or []]


def _parse_regressions(texts: list[str] | None) -> dict[str, float]:
    from ce_cli.errors import UsageError

    allowed: dict[str, float] = {}
    for text in texts or []:
        metric, _, value = text.partition("=")
        try:
            allowed[metric.strip()] = float(value)
        except ValueError:
            raise UsageError(
                "--allow-regression takes METRIC=DELTA", value=text, hint="e.g. ece=0.01"
            ) from None
    return allowed


def _judge(
    report: Any,
    gates: list[Any],
    use_interval: bool,
    baseline: dict[str, Any] | None,
    allowed: dict[str, float],
) -> tuple[Any, list[str]]:
    """Add the gates' and the baseline's outcomes to the report; return it and the failures."""
    import dataclasses

    if not gates and baseline is None:
        return report, []
    extra = dict(report.extra)
    failed: list[str] = []
    data = report.to_dict()
    if gates:
        from ce_cli.gates import evaluate_gates, gates_to_dict

        results = gates_to_dict(evaluate_gates(data, gates, use_interval=use_interval))
        extra["gates"] = results
        for r in results:
            if not r["passed"]:
                sign = ">" if r["op"] == "max" else "<"
                value = "missing" if r["value"] is None else f"{r['value']:.6g}"
                failed.append(f"gate failed: {r['metric']} = {value} {sign} {r['threshold']:g}")
    if baseline is not None:
        from ce_cli.gates import compare_to_baseline

        rows = compare_to_baseline(data, baseline, allowed)
        extra["baseline"] = rows
        for r in rows:
            if r["passed"] is False:
                failed.append(
                    f"regression: {r['metric']} {r['baseline']:.6g} -> {r['current']:.6g} "
                    f"(allowed {r['allowed']:g})"
                )
    return dataclasses.replace(report, extra=extra), failed


def _annotate(failed: list[str]) -> None:
    """One line per failure on stderr; under GitHub Actions, as ::error:: annotations."""
    github = os.environ.get("GITHUB_ACTIONS") == "true"
    for message in failed:
        print(
            f"::error title=ce-eval::{message}" if github else f"ce-eval: {message}",
            file=sys.stderr,
        )


def _color(output: str | None) -> bool:
    to_terminal = output in (None, "-") and sys.stdout.isatty()
    return to_terminal and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def _width(output: str | None) -> int:
    if output in (None, "-") and sys.stdout.isatty():
        return max(os.get_terminal_size().columns, 60)
    return 100


def _render(
    report: Any, output_format: FormatChoice, output: str | None, plots: list[str] | None = None
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

    return render_table(report, color=_color(output), width=_width(output))


def _emit(text: str, output: str | None, samples: Any = None) -> None:
    """Write the report text and put the staged --per-sample file in place: files first,
    stdout last, so an output that fails leaves nothing on stdout."""
    from ce_cli.atomic import write_text_atomically

    report_path = output or "-"
    if samples is not None and samples.path != "-":
        samples.commit()
    if report_path != "-":
        write_text_atomically(report_path, text, "-o")
    if samples is not None:
        samples.commit()  # to stdout; already done for a file
    if report_path == "-":
        write_text_atomically("-", text, "-o")


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


def _config_defaults(args: list[str], command: Any) -> dict[str, Any] | None:
    """Option defaults from the configuration file, if there is one."""
    explicit = None
    for i, arg in enumerate(args):
        if arg == "--config" and i + 1 < len(args):
            explicit = args[i + 1]
        elif arg.startswith("--config="):
            explicit = arg.split("=", 1)[1]
    from ce_cli.config import find_config, to_default_map

    found = find_config(explicit)
    if found is None:
        return None
    path, table = found
    known = {p.name for p in command.params if p.name}
    return to_default_map(table, path, known)


def _file_size(path: str) -> int | None:
    """Size of a regular file, for the progress bar (``None`` for stdin, globs, directories)."""
    try:
        return os.path.getsize(path) if path != "-" and os.path.isfile(path) else None
    except OSError:
        return None


def _fail(message: str, code: int) -> int:
    from ce_cli.printable import printable

    sys.stdout.flush()
    print(f"ce-eval: error: {printable(message)}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    """Run the command with ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    finder = _keep_pandas_out()
    try:
        return _run(args, debug="--debug" in args)
    finally:
        if finder is not None:
            sys.meta_path.remove(finder)


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


def _run(args: list[str], debug: bool) -> int:
    from ce_cli.errors import CeEvalError

    parse_errors = _parse_error_types()

    if args and args[0] == "compare":
        command, args, name = typer.main.get_command(compare_app), args[1:], "ce-eval compare"
    else:
        command, name = typer.main.get_command(app), "ce-eval"
    try:
        defaults = None
        if not any(a in ("-h", "--help", "--version") for a in args):
            defaults = _config_defaults(args, command)
        # Without standalone mode, click hands back an Exit's code instead of raising it.
        code = command.main(args=args, prog_name=name, standalone_mode=False, default_map=defaults)
        if code == 130:  # typer turns Ctrl-C into a silent exit code 130; ce-eval has no other
            return _fail("interrupted", 130)
        if isinstance(code, int):
            return code
    except CeEvalError as error:
        if debug:
            raise
        return _fail(str(error), error.exit_code)
    except typer.Exit as done:
        return int(done.exit_code or 0)
    except typer.Abort:
        return _fail("interrupted", 130)
    except parse_errors as error:
        if debug:
            raise
        format_message = getattr(error, "format_message", None)
        message = (format_message() if format_message else str(error)).replace("\n", " ")
        given = _given_value(args, getattr(error, "param", None))
        if given is not None and repr(given) not in message:
            message += f" (got {given!r})"
        return _fail(f"{message} (see {name} --help)", 2)
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


def _stop_on_sigterm() -> None:
    """SIGTERM (a CI job cancelled or timed out) unwinds like Ctrl-C, so temporary files go."""
    import signal

    def terminated(signum: int, frame: object) -> None:
        raise SystemExit(_fail("terminated", 128 + signum))

    signal.signal(signal.SIGTERM, terminated)


def entrypoint() -> None:
    """Console-script entry point."""
    if not any(a in ("-h", "--help", "--version") for a in sys.argv[1:]):
        from ce_cli.allocator import keep_freed_memory_for_reuse

        keep_freed_memory_for_reuse()
        _stop_on_sigterm()
    sys.exit(main())
