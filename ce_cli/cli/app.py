"""The typer app and its two commands: each takes its options, calls the library, renders.

``ce-eval PREDICTIONS [OPTIONS]`` evaluates one input (:func:`evaluate_command`);
``ce-eval compare A B [OPTIONS]`` compares two (:func:`compare_command`). The options are declared
in :mod:`~ce_cli.cli.options`, the output in :mod:`~ce_cli.cli.output`, the gates in
:mod:`~ce_cli.cli.gating`; :mod:`~ce_cli.cli.main` runs the app as a process and maps errors to
exit codes: 0 success, 1 a quality gate failed (the report is still written), 2 bad usage or bad
input, 3 internal error. A failure prints one line to stderr and nothing to stdout; ``--debug``
adds the traceback. Heavy modules (NumPy, pyarrow, Rich) are imported only once there is work to
do, so ``--help`` and ``--version`` start fast. Defaults may come from ``ce-eval.toml`` or
``[tool.ce-eval]`` in ``pyproject.toml``; the command line wins.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

import typer

from ce_cli.cli.gating import _annotate, _judge, _parse_gates, _parse_regressions
from ce_cli.cli.options import (
    _COLUMNS,
    _GATES,
    _OUTPUT,
    EXAMPLES,
    Alpha,
    Base,
    Bins,
    Classes,
    ClassWeights,
    Config,
    Debug,
    EngineChoice,
    FormatChoice,
    Gamma,
    IdCol,
    IgnoreLabel,
    InputFormat,
    LabelCol,
    Logits,
    LossOption,
    OnNan,
    Output,
    Plot,
    ProbCols,
    Renormalize,
    Seed,
    Smoothing,
    TargetCols,
    TaskOption,
    Version,
    WeightCol,
    _settings,
)
from ce_cli.cli.output import (
    _check_plots,
    _color,
    _emit,
    _file_size,
    _pipe_guard,
    _plot_outputs,
    _refuse_inputs_as_outputs,
    _render,
    _width,
    _write_plots,
)
from ce_cli.settings import Loss, Task

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
    ignore_label: IgnoreLabel = None,
    on_nan: OnNan = "error",
    renormalize: Renormalize = False,
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
    bins: Bins = 15,
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
    input_format: InputFormat = None,
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
        if plot:  # the dict holds a row per class: only made for the figures
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
    bins: Bins = 15,
    ignore_label: IgnoreLabel = None,
    on_nan: OnNan = "error",
    renormalize: Renormalize = False,
    input_format: Annotated[
        str | None,
        typer.Option(
            help="Input format (parquet, csv, tsv, arrow, jsonl) of whichever of A and B has a "
            "name that does not say it (-, a pipe, no known suffix); of both where both names "
            "say it."
        ),
    ] = None,
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
    from ce_cli.judge.compare import compare
    from ce_cli.render.compare_table import render_compare_table

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
        bins=bins,
        ignore_label=ignore_label,
        on_nan=on_nan,
        renormalize=renormalize,
        input_format=input_format,
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
