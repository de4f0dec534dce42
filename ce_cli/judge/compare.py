"""``ce-eval compare A B``: two models on the same rows, with paired bootstrap intervals.

Each input is evaluated with the same options into a temporary per-sample Parquet file (one
row per input row); the two files are then read in lockstep, so memory stays bounded. Rows are
paired by ``--id-col`` when given (the second model's rows are looked up by id; this lookup holds
the ids in memory) or else by position (both inputs must have the same rows). For each metric
the report gives both means, the mean paired difference ``A - B`` and its Poisson-bootstrap
percentile interval; the verdict says which model is better when the interval excludes 0.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ce_cli.api import evaluate
from ce_cli.errors import InputFormatError, LabelError
from ce_cli.report.registry import REPORT_METRICS, Metric
from ce_cli.report.report import Report
from ce_cli.settings import Settings
from ce_cli.state.bootstrap import CHUNK_VALUES, poisson_weights


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
        step = max(1, CHUNK_VALUES // self.replicates)  # bounded (rows × replicates) weights
        if len(rows) > step:
            for i in range(0, len(rows), step):
                j = i + step
                self.update(a[:, i:j], b[:, i:j], d[:, i:j], s[i:j], rows[i:j], seed)
            return
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


class _Rows:
    """The rows of a stream of batches, handed out ``n`` at a time whatever the batches'
    sizes (two files' row groups need not line up)."""

    def __init__(self, batches: Any) -> None:
        self._batches = iter(batches)
        self._held: list[pa.RecordBatch] = []
        self._count = 0

    def take(self, n: int) -> pa.Table:
        while self._count < n:
            batch = next(self._batches, None)
            if batch is None:
                break
            self._held.append(batch)
            self._count += batch.num_rows
        table = pa.Table.from_batches(self._held) if self._held else None
        if table is None or table.num_rows < n:
            raise InputFormatError("the second input has fewer rows than the first")
        rest = table.slice(n)
        self._held = rest.to_batches()
        self._count = rest.num_rows
        return table.slice(0, n)


def _check_same_problem(report_a: Any, report_b: Any, source_a: str, source_b: str) -> None:
    """Both inputs must be the same problem: rows, task and classes."""
    if report_a.n_samples != report_b.n_samples:
        raise InputFormatError(
            f"the two inputs have {report_a.n_samples:,} and {report_b.n_samples:,} rows",
            file=source_b,
            hint="compare needs the same rows in both inputs (pair them with --id-col)",
        )
    da, db = report_a.detection, report_b.detection
    if da.task != db.task:
        raise InputFormatError(
            f"the first input is {da.task} but the second is {db.task}",
            file=source_b,
            hint="compare needs the same task in both (see --task)",
        )
    if tuple(da.classes) != tuple(db.classes):
        raise InputFormatError(
            f"the classes differ: {len(da.classes)} in the first input "
            f"({', '.join(da.classes[:6])}{', …' if len(da.classes) > 6 else ''}), "
            f"{len(db.classes)} in the second "
            f"({', '.join(db.classes[:6])}{', …' if len(db.classes) > 6 else ''})",
            file=source_b,
            hint="compare needs the same classes in the same order (see --classes)",
        )


_ID_NAMES = ("id", "ids", "row_id", "sample_id", "example_id", "uid", "uuid", "key")


def _shared_id_column(source_a: str, source_b: str, settings: Settings) -> str | None:
    """A column named like an id in both inputs (files only: standard input is read once)."""
    if not all(os.path.isfile(s) or os.path.isdir(s) for s in (source_a, source_b)):
        return None  # standard input and FIFOs are read once, by the evaluation
    from ce_cli.io.readers import open_source

    names = []
    for source in (source_a, source_b):
        src = open_source(source, settings.input_format)
        try:
            names.append({n.lower(): n for n in src.schema.names})
        finally:
            src.close()
    for candidate in _ID_NAMES:
        in_both = candidate in names[0] and candidate in names[1]
        if in_both and names[0][candidate] == names[1][candidate]:
            return str(names[0][candidate])
    return None


def _check_unique_ids(ids: Any, source: str) -> None:
    if pc.count_distinct(ids).as_py() != len(ids):
        counts = pc.value_counts(ids)
        dup = next(c["values"] for c in counts.to_pylist() if c["counts"] > 1)
        raise LabelError(
            "an id appears twice, so rows cannot be paired by id",
            file=source,
            value=dup,
            hint="give each row its own id",
        )


def _check_pairs(
    part_a: pa.Table, part_b: pa.Table, source_a: str, source_b: str, by_id: bool
) -> None:
    """Paired rows must have the same label (and, paired by position, the same input row):
    the first pair that differs is named."""
    for column in ("label", *(() if by_id else ("row", "id"))):
        if column not in part_a.column_names or column not in part_b.column_names:
            continue
        a, b = part_a.column(column), part_b.column(column)
        differ = np.asarray(pc.fill_null(pc.not_equal(a, b), True).to_numpy(zero_copy_only=False))
        if differ.any():
            i = int(np.argmax(differ))
            row = part_a.column("row")[i].as_py()
            what = {"label": "label", "row": "input row", "id": "id"}[column]
            where = f"id {part_a.column('id')[i].as_py()!r}" if by_id else f"row {row} of the first"
            raise LabelError(
                f"the rows do not pair: {where} has {what} {a[i].as_py()!r} in {source_a} but "
                f"{b[i].as_py()!r} in {source_b}",
                hint="compare needs the same rows with the same labels in both "
                "(pair them with --id-col if the order differs)",
            )


def compare(
    source_a: str, source_b: str, *, level: float = 0.95, replicates: int = 1000, **options: Any
) -> dict[str, Any]:
    """Evaluate two prediction files on the same rows; paired differences with intervals.

    ``options`` are :class:`~ce_cli.settings.Settings` fields, or ``settings=`` one.
    """
    settings = options.pop("settings", None) or Settings(**options)
    by_id = settings.id_col is not None
    evaluated = settings
    if not by_id:  # paired by position: an id column in both must then agree row by row
        shared = _shared_id_column(source_a, source_b, settings)
        if shared is not None:
            evaluated = dataclasses.replace(settings, id_col=shared)
    with tempfile.TemporaryDirectory(prefix="ce-eval-compare-") as tmp:
        path_a, path_b = os.path.join(tmp, "a.parquet"), os.path.join(tmp, "b.parquet")
        report_a = evaluate(source_a, settings=evaluated, per_sample=path_a)
        report_b = evaluate(source_b, settings=evaluated, per_sample=path_b)
        _check_same_problem(report_a, report_b, source_a, source_b)
        both = [
            m for m in REPORT_METRICS if m.name in report_a.metrics and m.name in report_b.metrics
        ]
        paired = [m for m in both if m.per_row is not None]
        sums = _Sums(replicates, len(paired))
        loss_weight = _loss_weights(report_a)
        file_a, file_b = pq.ParquetFile(path_a), pq.ParquetFile(path_b)
        table_b = file_b.read() if by_id else None
        if table_b is not None:
            _check_unique_ids(table_b.column("id"), source_b)
            _check_unique_ids(file_a.read(columns=["id"]).column("id"), source_a)
        rows_b = None if by_id else _Rows(file_b.iter_batches(batch_size=65_536))
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
                        hint="compare needs the same rows in both inputs",
                    )
                part_b = table_b.take(positions)
            else:
                assert rows_b is not None
                part_b = rows_b.take(part_a.num_rows)
            _check_pairs(part_a, part_b, source_a, source_b, by_id)
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
    """The comparison as a text table that fits 80 columns (file names are shown as they are,
    never read as markup; no trailing spaces)."""
    import io

    from rich import box
    from rich.console import Console, Group
    from rich.table import Table
    from rich.text import Text

    from ce_cli.printable import printable

    title = Text()
    title.append(f"A = {printable(result['a'])}\nB = {printable(result['b'])}\n")
    title.append(
        f"{result['n_samples']:,} paired rows ({result['paired_by']}), "
        f"{result['level'] * 100:g} % paired bootstrap intervals of A - B"
    )
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for column in ("metric", "A", "B", "A - B", "interval", "verdict"):
        table.add_column(
            column, justify="left" if column in ("metric", "verdict") else "right", no_wrap=True
        )
    shown = {"no significant difference": "no difference"}
    for name, m in result["metrics"].items():
        verdict = m["verdict"]
        style = "green" if verdict == "A better" else "red" if verdict == "B better" else ""
        interval = "–" if m["low"] is None else f"[{m['low']:+.3g}, {m['high']:+.3g}]"
        table.add_row(
            name,
            _fmt(m["a"], ".5g"),
            _fmt(m["b"], ".5g"),
            _fmt(m["difference"], "+.3g"),
            interval,
            Text(shown.get(verdict, verdict), style=style),
        )
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=color, no_color=not color, width=width)
    console.print(Group(title, table))
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()).rstrip() + "\n"
