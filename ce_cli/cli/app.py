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

\b
  # multi-class: columns p_* and a label column
  ce-eval preds.parquet
  # binary focal loss (one column, P(y=1))
  ce-eval preds.csv --loss focal --gamma 2 --alpha 0.25
  # logits, label smoothing, balanced class weights, in bits
  ce-eval logits.csv --logits --smoothing 0.1 --class-weights balanced \\
      --base bits
  # multi-label (sigmoid outputs); soft labels
  ce-eval tags.parquet --target-cols 'y_*' --task multilabel
  ce-eval soft.parquet --target-cols 't_*' --prob-cols 'p_*'
  # standard input; report to a file, one row per sample beside it
  cat preds.csv | ce-eval - --format json -o report.json \\
      --per-sample losses.parquet
  # a CI gate (exit 1 when it fails), with 95 % intervals
  ce-eval preds.parquet --max ece=0.05 --min accuracy=0.9 --ci 0.95
  # two models on the same rows, paired by id
  ce-eval compare model_a.parquet model_b.parquet --id-col id

Defaults may come from ce-eval.toml or [tool.ce-eval] in pyproject.toml (the command line
wins). Exit codes: 0 ok, 1 a gate failed, 2 bad usage or input, 3 internal error, 141 the
reader of stdout closed the pipe.
"""


class FormatChoice(StrEnum):
    table = "table"
    json = "json"
    markdown = "markdown"
    junit = "junit"
    html = "html"


class EngineChoice(StrEnum):
    local = "local"
    dask = "dask"


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
    float | None,
    typer.Option(
        help="Focal focusing parameter, >= 0 (with --loss focal). Default: 2.",
        rich_help_panel=_LOSS,
        show_default=False,
    ),
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
    from ce_cli.errors import UsageError
    from ce_cli.settings import Settings

    if options.get("gamma") is not None and options.get("loss") is not Loss.FOCAL:
        raise UsageError(
            "--gamma applies to --loss focal only", value=options["gamma"], hint="add --loss focal"
        )
    if options.get("gamma") is None:
        options.pop("gamma", None)

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
    sequence_col: Annotated[
        str | None,
        typer.Option(
            help="The sequence (document) id of each token row; rows of a sequence are "
            "contiguous. Adds the distribution of per-sequence perplexity.",
            rich_help_panel=_COLUMNS,
        ),
    ] = None,
    logits: Logits = None,
    task: TaskOption = Task.AUTO,
    loss: LossOption = Loss.CE,
    gamma: Gamma = None,
    alpha: Alpha = None,
    smoothing: Smoothing = 0.0,
    class_weights: ClassWeights = None,
    base: Base = "nats",
    bins: Annotated[int, typer.Option(help="Calibration bins (1 to 10,000).")] = 15,
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
        int, typer.Option(help="Bootstrap replicates (10 to 10,000).", rich_help_panel=_GATES)
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
    per_sequence: Annotated[
        str | None,
        typer.Option(
            help="One row per sequence, with --sequence-col (.parquet, .csv, .jsonl; - for CSV "
            "on stdout).",
            rich_help_panel=_OUTPUT,
        ),
    ] = None,
    top: Annotated[
        int,
        typer.Option(
            help="List the K rows with the largest loss (at most 1,000,000).",
            rich_help_panel=_OUTPUT,
        ),
    ] = 0,
    input_format: Annotated[
        str | None,
        typer.Option(
            help="Input format when the name does not say (parquet, csv, tsv, arrow, jsonl)."
        ),
    ] = None,
    engine: Annotated[
        EngineChoice,
        typer.Option(
            help="Where to compute: local (this process, all cores) or dask (a Dask cluster; "
            "needs ce-eval[dask]).",
        ),
    ] = EngineChoice.local,
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
    from ce_cli.cli.progress import ProgressReporter
    from ce_cli.errors import UsageError
    from ce_cli.io.atomic import check_destination

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
        sequence_col=sequence_col,
        top=top,
        ci=ci,
        bootstrap=bootstrap,
        seed=seed,
    )
    _check_per_sequence(per_sequence, per_sample, output, sequence_col)
    if per_sample == "-" and output is None and getattr(sys.stderr, "ce_eval_closed", False):
        raise UsageError(
            "with --per-sample - the report goes to standard error, which is closed",
            hint="write the report to a file with -o FILE",
        )
    if per_sample == "-" and output == "-":
        raise UsageError(
            "--per-sample - and -o - would both go to stdout",
            hint="leave out -o (the report then goes to stderr) or give -o a file",
        )
    _refuse_inputs_as_outputs(
        {"-o": output, "--per-sample": per_sample, **_plot_outputs(plot)},
        [predictions, labels, baseline],
        config,
        to_stdout="per-sample rows"
        if per_sample == "-"
        else "report"
        if output in (None, "-")
        else None,
    )
    if gate_on_interval and ci is None:
        raise UsageError("--gate-on-interval needs --ci", hint="e.g. --ci 0.95")
    gates = _parse_gates(max_gate, min_gate)
    if gates:  # before reading the input: unknown names, and metrics without an interval
        from ce_cli.judge.gates import check_gate_names, check_interval_gates

        check_gate_names(gates)
        if gate_on_interval:
            check_interval_gates(gates)
    allowed = _parse_regressions(allow_regression)
    baseline_report = None
    if baseline is not None:
        from ce_cli.judge.gates import load_baseline

        baseline_report = load_baseline(baseline)
    if output is not None or per_sample != "-":
        check_destination("-" if output is None else output, "-o")
    _check_plots(plot, output, per_sample)
    samples = _stage_per_sample(per_sample)
    sequence_rows = _stage_per_sample(per_sequence, "--per-sequence")
    try:
        progress = ProgressReporter(enabled=not quiet, size_bytes=_file_size(predictions))
        try:
            report = evaluate(
                predictions,
                settings=settings,
                per_sample=None if samples is None else samples.temp_path,
                progress=progress,
                engine=engine.value,
                scheduler=scheduler,
                per_sequence=None if sequence_rows is None else sequence_rows.temp_path,
            )
        finally:
            progress.close()
        report, failed = _judge(report, gates, gate_on_interval, baseline_report, allowed)
        stream = sys.stderr if per_sample == "-" and output is None else None
        text = _render(report, output_format, output, plot, stream)
        _write_plots(plot, report.to_dict())
        with _pipe_guard():
            _emit(text, output, samples, sequence_rows)
    except BaseException:
        if samples is not None:
            samples.abort()
        if sequence_rows is not None:
            sequence_rows.abort()
        raise
    if failed:
        _annotate(failed)
        raise typer.Exit(1)


def _stage_per_sample(path: str | None, option: str = "--per-sample") -> Any:
    """The --per-sample (or --per-sequence) file, written to a temporary file and put in place
    only once the report is written too, so a run that fails anywhere leaves an existing file
    untouched."""
    if path is None:
        return None
    from ce_cli.io.atomic import AtomicOutput
    from ce_cli.io.samples_out import format_for

    format_for(path, option)  # an unknown extension fails now, before the input is read
    return AtomicOutput(path, option, suffix=".csv")


def _check_per_sequence(
    path: str | None, per_sample: str | None, output: str | None, sequence_col: str | None
) -> None:
    from ce_cli.errors import UsageError

    if path is None:
        return
    if sequence_col is None:
        raise UsageError("--per-sequence needs --sequence-col", hint="e.g. --sequence-col doc_id")
    if path == "-" and (per_sample == "-" or output in (None, "-")):
        raise UsageError(
            "--per-sequence - and the report or --per-sample would both go to stdout",
            hint="send the others to files (-o report.json, --per-sample rows.parquet)",
        )
    others = [p for p in (per_sample, output) if p not in (None, "-")]
    if path != "-" and any(os.path.realpath(path) == os.path.realpath(p) for p in others):
        raise UsageError(
            "--per-sequence names the same file as -o or --per-sample",
            value=path,
            hint="give each its own path",
        )


compare_app = typer.Typer(
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)


@compare_app.command(
    help="Compare two models' predictions on the same rows: paired per-sample differences "
    "with bootstrap intervals and a verdict per metric.",
    epilog="Example:\n\n\b\n  ce-eval compare a.parquet b.parquet --id-col id --ci 0.95\n",
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
    gamma: Gamma = None,
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
        typer.Option(
            "--format", help="table, json, markdown, junit or html.", rich_help_panel=_OUTPUT
        ),
    ] = FormatChoice.table,
    output: Output = None,
    plot: Plot = None,
    config: Config = None,
    debug: Debug = False,
) -> None:
    from ce_cli.errors import UsageError
    from ce_cli.io.atomic import check_destination, write_text_atomically
    from ce_cli.judge.compare import compare, render_compare_table

    if not (0.0 < ci < 1.0):
        raise UsageError("--ci must lie strictly between 0 and 1", value=ci)
    if first == second == "-":
        raise UsageError(
            "A and B are both standard input, which can be read only once",
            hint="give at least one of them as a file",
        )
    _refuse_inputs_as_outputs(
        {"-o": output, **_plot_outputs(plot)},
        [first, second],
        config,
        to_stdout="report" if output in (None, "-") else None,
    )
    check_destination("-" if output is None else output, "-o")
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
    elif output_format is FormatChoice.markdown:
        from ce_cli.render.markdown import render_compare_markdown

        text = render_compare_markdown(result)
    elif output_format is FormatChoice.junit:
        from ce_cli.render.junit import render_compare_junit

        text = render_compare_junit(result)
    else:
        from ce_cli.render.html import render_compare_html

        text = render_compare_html(result)
    _write_plots(plot, result, comparison=True)
    with _pipe_guard():
        write_text_atomically(output or "-", text, "-o")


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


def _parse_gates(max_gate: list[str] | None, min_gate: list[str] | None) -> list[Any]:
    if not max_gate and not min_gate:
        return []
    from ce_cli.judge.gates import parse_gate

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
        from ce_cli.judge.gates import evaluate_gates, gates_to_dict

        results = gates_to_dict(evaluate_gates(data, gates, use_interval=use_interval))
        extra["gates"] = results
        for r in results:
            if not r["passed"]:
                sign = ">" if r["op"] == "max" else "<"
                value = "missing" if r["value"] is None else f"{r['value']:.6g}"
                failed.append(f"gate failed: {r['metric']} = {value} {sign} {r['threshold']:g}")
    if baseline is not None:
        from ce_cli.judge.gates import compare_to_baseline

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
    from ce_cli.cli.config import find_config, to_default_map

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
    else:
        command, name = typer.main.get_command(app), "ce-eval"
    options = set(args[: args.index("--")] if "--" in args else args)
    if {"--logits", "--probs"} <= options:  # a bool flag pair: click would let the last one win
        return _fail(f"--logits and --probs contradict each other; give one (see {name} --help)", 2)
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
        if debug:  # the traceback, then the exit code the error has without --debug
            traceback.print_exc()
        return _fail(str(error), error.exit_code)
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
    sys.exit(main())
