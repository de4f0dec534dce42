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
from ce_cli.settings import Settings

# metric -> (per-sample column, lower is better)
COMPARED = {
    "loss": ("loss", True),
    "cross_entropy": ("cross_entropy", True),
    "brier": ("brier", True),
    "accuracy": ("correct", False),
}


@dataclass
class _Sums:
    replicates: int
    weight: float = 0.0
    a: Any = None
    b: Any = None
    boot_weight: Any = None
    boot_diff: Any = None

    def __post_init__(self) -> None:
        k = len(COMPARED)
        self.a = np.zeros(k)
        self.b = np.zeros(k)
        self.boot_weight = np.zeros(self.replicates)
        self.boot_diff = np.zeros((k, self.replicates))

    def update(self, a: np.ndarray, b: np.ndarray, s: np.ndarray, rows: np.ndarray, seed: int):  # type: ignore[no-untyped-def]
        self.weight += float(s.sum())
        self.a += a @ s
        self.b += b @ s
        w = poisson_weights(rows, self.replicates, seed) * s[:, None]
        self.boot_weight += w.sum(axis=0)
        self.boot_diff += (a - b) @ w


def _columns(table: pa.Table) -> np.ndarray:
    out = []
    for column, _ in COMPARED.values():
        out.append(np.asarray(table.column(column).to_numpy(), dtype=np.float64))
    return np.stack(out)


def compare(
    source_a: str, source_b: str, *, level: float = 0.95, replicates: int = 1000, **options: Any
) -> dict[str, Any]:
    """Evaluate two prediction files on the same rows; paired differences with intervals.

    ``options`` are :class:`~ce_cli.settings.Settings` fields, or ``settings=`` one.
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
        sums = _Sums(replicates)
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
            sums.update(_columns(part_a), _columns(part_b), s, rows, settings.seed)
    tail = (1.0 - level) / 2.0
    metrics: dict[str, Any] = {}
    for k, (name, (_, lower_better)) in enumerate(COMPARED.items()):
        diffs = sums.boot_diff[k] / np.maximum(sums.boot_weight, 1e-300)
        low, high = (float(x) for x in np.quantile(diffs, [tail, 1.0 - tail]))
        mean_a, mean_b = sums.a[k] / sums.weight, sums.b[k] / sums.weight
        if low > 0 or high < 0:
            a_better = (high < 0) == lower_better
            verdict = "A better" if a_better else "B better"
        else:
            verdict = "no significant difference"
        metrics[name] = {
            "a": float(mean_a),
            "b": float(mean_b),
            "difference": float(mean_a - mean_b),
            "low": low,
            "high": high,
            "verdict": verdict,
        }
    return {
        "schema_version": 1,
        "a": report_a.source,
        "b": report_b.source,
        "n_samples": report_a.n_samples,
        "base": settings.base,
        "level": level,
        "replicates": replicates,
        "paired_by": "id" if settings.id_col else "row order",
        "metrics": metrics,
        # Each model's own calibration (bins, and whatever else the report carries), so that
        # both can be drawn on one reliability diagram (--plot).
        "calibration": {"a": report_a.calibration, "b": report_b.calibration},
    }


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
        table.add_row(
            name,
            f"{m['a']:.6g}",
            f"{m['b']:.6g}",
            f"{m['difference']:+.4g}",
            f"[{m['low']:+.4g}, {m['high']:+.4g}]",
            f"[{style}]{m['verdict']}[/]" if style else m["verdict"],
        )
    buffer = io.StringIO()
    Console(file=buffer, force_terminal=color, no_color=not color, width=width).print(table)
    return buffer.getvalue()
