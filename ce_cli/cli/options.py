"""The command's options, declared once: the Annotated typer options that ``ce-eval`` and
``ce-eval compare`` share, their choices, the help's examples, and Settings built from them."""

from __future__ import annotations

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


Bins = Annotated[int, typer.Option(help="Calibration bins (1 to 10,000).")]


IgnoreLabel = Annotated[
    str | None,
    typer.Option(
        help="Leave out rows with this label (like PyTorch's ignore_index); counted.",
        rich_help_panel=_COLUMNS,
    ),
]


OnNan = Annotated[
    str,
    typer.Option(
        help="Rows with a missing, NaN or infinite value: 'error' or 'drop' (counted).",
        rich_help_panel=_COLUMNS,
    ),
]


Renormalize = Annotated[
    bool,
    typer.Option(
        help="Divide probability rows that do not sum to 1 by their sum (counted) "
        "instead of stopping.",
        rich_help_panel=_COLUMNS,
    ),
]


InputFormat = Annotated[
    str | None,
    typer.Option(help="Input format when the name does not say (parquet, csv, tsv, arrow, jsonl)."),
]


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
        "pyproject.toml; /dev/null for none)."
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
