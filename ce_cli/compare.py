"""``ce-eval compare A B``: two models on the same rows, with paired bootstrap intervals.

Each input is evaluated with the same options into a temporary per-sample Parquet file (one
row per input row); the two files are then read in lockstep, so memory stays bounded. Rows are
paired by ``--id-col`` when given (the second model's rows are looked up by id; this lookup holds
the ids in memory) or else by position (both inputs must have the same rows). For each metric
the report gives both means, the mean paired difference ``A - B`` and its Poisson-bootstrap
percentile interval; the verdict says which model is better when the interval excludes 0.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ce_cli.api import evaluate
from ce_cli.bootstrap import poisson_weights
from ce_cli.errors import InputFormatError, LabelError
from ce_cli.metrics import REPORT_METRICS, Metric
from ce_cli.report import Report
from ce_cli.settings import Settings


@dataclass
class _Sums:
    """Paired sums: per metric, Σ s·x for A and B, and per replicate Σ b·s·(x_A − x_B) over
    Σ b·s·d (``d`` the row's share of the metric's denominator)."""

    replicates: int
    k: int
    boot_weight: Any = None
    boot_diff: Any = None

    def __post_init__(self) -> None:
        self.boot_weight = np.zeros((self.k, self.replicates))
        self.boot_diff = np.zeros((self.k, self.replicates))

    def update(self, a: Any, b: Any, d: Any, s: Any, rows: Any, seed: int) -> None:
        w = poisson_weights(rows, self.replicates, seed) * s[:, None]
        self.boot_weight += d @ w
        self.boot_diff += (a - b) @ w


def _column(table: pa.Table, metric: Metric) -> np.ndarray:
    assert metric.per_row is not None
    name = metric.per_row
    if name not in table.column_names and metric.name == "accuracy":
        name = "accuracy"  # multi-label rows: the fraction of labels right
    return np.asarray(table.column(name).to_numpy(zero_copy_only=False), dtype=np.float64)


def _denominators(table: pa.Table, metric: Metric, loss_weight: dict[str, float] | None) -> Any:
    """Each row's share of the metric's denominator: ``w_t`` for a class-weighted loss."""
    n = table.num_rows
    if metric.name != "loss" or loss_weight is None:
        return np.ones(n)
    labels = table.column("label").to_pylist()
    return np.array([loss_weight[str(label)] for label in labels], dtype=np.float64)


def _loss_weights(report: Report) -> dict[str, float] | None:
    """Class name → the weight its rows give the loss's denominator (hard labels, class weights)."""
    d = report.detection
    if report.class_weights is None or d.soft_targets or d.task == "multilabel":
        return None
    return dict(zip(d.classes, report.class_weights, strict=True))


def compare(
    source_a: str, source_b: str, *, level: float = 0.95, replicates: int = 1000, **options: Any
) -> dict[str, Any]:
    """Evaluate two prediction files on the same rows; paired differences with intervals.

    Every metric of the registry both reports have is compared: both values (the reports' own),
    the difference ``A − B`` and, for the metrics that are a mean of a per-row value
    (``Metric.per_row``), a paired Poisson-bootstrap percentile interval of the difference and a
    verdict. ``options`` are :class:`~ce_cli.settings.Settings` fields, or ``settings=`` one.
    """
    settings = options.pop("settings", None) or Settings(**options)
    with tempfile.TemporaryDirectory(prefix="ce-eval-compare-") as tmp:
        path_a, path_b = os.path.join(tmp, "a.parquet"), os.path.join(tmp, "b.parquet")
        report_a = evaluate(source_a, settings=settings, per_sample=path_a)
        report_b = evaluate(source_b, settings=settings, per_sample=path_b)
        if report_a.n_samples != report_b.n_samples:
            raise InputFormatError(
                f"the two inputs have {report_a.n_samples} and {report_b.n_samples} rows",
                file=source_b,
                hint="compare needs the same rows in both (pair them with --id-col)",
            )
        both = [
            m for m in REPORT_METRICS if m.name in report_a.metrics and m.name in report_b.metrics
        ]
        paired = [m for m in both if m.per_row is not None]
        sums = _Sums(replicates, len(paired))
        loss_weight = _loss_weights(report_a)
        file_a, file_b = pq.ParquetFile(path_a), pq.ParquetFile(path_b)
        by_id = settings.id_col is not None
        table_b = file_b.read() if by_id else None
        batches_b = None if by_id else file_b.iter_batches(batch_size=65_536)
        for batch_a in file_a.iter_batches(batch_size=65_536):
            part_a = pa.Table.from_batches([batch_a])
            if table_b is not None:
                positions = pc.index_in(part_a.column("id"), value_set=table_b.column("id"))
                if positions.null_count:
                    first = int(np.argmin(positions.is_valid().to_numpy(zero_copy_only=False)))
                    raise LabelError(
                        "this id is not in the second input",
                        file=source_b,
                        value=part_a.column("id")[first].as_py(),
                    )
                part_b = table_b.take(positions)
            else:
                assert batches_b is not None
                part_b = pa.Table.from_batches([next(batches_b)])
            rows = np.asarray(part_a.column("row").to_numpy(), dtype=np.int64)
            s = (
                np.asarray(part_a.column("weight").to_numpy(), dtype=np.float64)
                if "weight" in part_a.column_names
                else np.ones(len(rows))
            )
            sums.update(
                np.stack([_column(part_a, m) for m in paired]),
                np.stack([_column(part_b, m) for m in paired]),
                np.stack([_denominators(part_a, m, loss_weight) for m in paired]),
                s,
                rows,
                settings.seed,
            )
    tail = (1.0 - level) / 2.0
    metrics: dict[str, Any] = {}
    for m in both:
        a, b = report_a.metrics[m.name], report_b.metrics[m.name]
        low = high = None
        verdict = "descriptive" if m.direction == "descriptive" else "no interval"
        if m in paired:
            k = paired.index(m)
            with np.errstate(divide="ignore", invalid="ignore"):
                diffs = sums.boot_diff[k] / sums.boot_weight[k]
            diffs = diffs[np.isfinite(diffs)]
            if diffs.size:
                low, high = (float(x) for x in np.quantile(diffs, [tail, 1.0 - tail]))
                verdict = _verdict(m, low, high)
        metrics[m.name] = {
            "a": a,
            "b": b,
            "difference": None if a is None or b is None else a - b,
            "low": low,
            "high": high,
            "direction": m.direction,
            "verdict": verdict,
        }
    return {
        "schema_version": 1,
        "a": report_a.source,
        "b": report_b.source,
        "n_samples": report_a.n_samples,
        "task": report_a.detection.task,
        "base": settings.base,
        "level": level,
        "replicates": replicates,
        "paired_by": "id" if settings.id_col else "row order",
        "metrics": metrics,
        # Each model's own calibration (bins, and whatever else the report carries), so that
        # both can be drawn on one reliability diagram (--plot).
        "calibration": {"a": report_a.calibration, "b": report_b.calibration},
    }


def _verdict(metric: Metric, low: float, high: float) -> str:
    if metric.direction == "descriptive":
        return "descriptive"
    if low > 0 or high < 0:
        a_better = (high < 0) == (metric.direction == "lower")
        return "A better" if a_better else "B better"
    return "no significant difference"


def _fmt(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def render_compare_table(result: dict[str, Any], *, color: bool = False, width: int = 100) -> str:
    """The comparison as a Rich table (text)."""
    import io

    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"A = {result['a']}   B = {result['b']}   ({result['n_samples']:,} paired rows, "
        f"{int(result['level'] * 100)} % bootstrap intervals)",
        box=box.SIMPLE_HEAD,
        title_justify="left",
    )
    for column in ("metric", "A", "B", "A - B", "interval", "verdict"):
        table.add_column(column, justify="left" if column in ("metric", "verdict") else "right")
    for name, m in result["metrics"].items():
        style = (
            "green" if m["verdict"] == "A better" else "red" if m["verdict"] == "B better" else ""
        )
        interval = (
            "–" if m["low"] is None else f"[{_fmt(m['low'], '+.4g')}, {_fmt(m['high'], '+.4g')}]"
        )
        table.add_row(
            name,
            _fmt(m["a"], ".6g"),
            _fmt(m["b"], ".6g"),
            _fmt(m["difference"], "+.4g"),
            interval,
            f"[{style}]{m['verdict']}[/]" if style else m["verdict"],
        )
    buffer = io.StringIO()
    Console(file=buffer, force_terminal=color, no_color=not color, width=width).print(table)
    return buffer.getvalue()
