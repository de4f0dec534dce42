"""Reports do not depend on the thread count, and barely on how a batch is split into tasks.

The tasks of a batch are summed into accumulators of their own and added in row order, and the
split depends on the data alone, so one thread and several give the same report to the last
digit; a different split changes only the rounding of the sums.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

import ce_cli.api as api
import ce_cli.engine.kernel as kernel
from ce_cli.core.rowwise import SWEEP_COLUMNS, row_argmax


def _tables() -> dict[str, pa.Table]:
    rng = np.random.default_rng(5)
    n, c = 3000, 7
    labels = rng.integers(0, c, n)
    logits = (rng.standard_normal((n, c)) * 3).astype(np.float32)
    q = np.exp(logits - logits.max(axis=1, keepdims=True))
    q /= q.sum(axis=1, keepdims=True)
    flat = pa.array(logits.reshape(-1))
    return {
        # A fixed-size list of float32 logits is read in place, a task at a time.
        "in place": pa.table(
            {"label": labels, "logits": pa.FixedSizeListArray.from_arrays(flat, c)}
        ),
        # Probability columns are stacked a chunk at a time.
        "columns": pa.table({"label": labels, **{f"p_{j}": q[:, j] for j in range(c)}}),
    }


def _report(table: pa.Table, **options: Any) -> dict[str, Any]:
    return api.evaluate(table, **options).to_dict()


def _numbers(report: Any, prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    if isinstance(report, dict):
        for key, value in report.items():
            out.update(_numbers(value, f"{prefix}/{key}"))
    elif isinstance(report, list):
        for i, value in enumerate(report):
            out.update(_numbers(value, f"{prefix}/{i}"))
    elif isinstance(report, int | float) and not isinstance(report, bool):
        out[prefix] = float(report)
    return out


@pytest.mark.parametrize("kind", ["in place", "columns"])
def test_one_thread_and_three_give_the_same_report(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = _tables()[kind]
    # Small chunks and tasks: many of them, so the threads really share the work.
    monkeypatch.setattr(kernel, "CHUNK_VALUES", 512)
    monkeypatch.setattr(kernel, "TASK_VALUES", 2048)
    monkeypatch.setattr(kernel, "MIN_TASK_VALUES", 256)
    monkeypatch.setenv("CE_EVAL_THREADS", "1")
    serial = _report(table, ci=0.9, bootstrap=20)
    monkeypatch.setenv("CE_EVAL_THREADS", "3")
    monkeypatch.setattr(kernel, "_pool", None)
    assert _report(table, ci=0.9, bootstrap=20) == serial


@pytest.mark.parametrize("kind", ["in place", "columns"])
def test_another_task_split_changes_only_the_rounding(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = _tables()[kind]
    default = _numbers(_report(table))
    monkeypatch.setattr(kernel, "CHUNK_VALUES", 100)
    monkeypatch.setattr(kernel, "TASK_VALUES", 300)
    monkeypatch.setattr(kernel, "MIN_TASK_VALUES", 50)
    split = _numbers(_report(table))
    assert default.keys() == split.keys()
    for key, value in default.items():
        assert math.isclose(split[key], value, rel_tol=1e-12, abs_tol=1e-15), key


@pytest.mark.parametrize("width", [1, 2, 5, SWEEP_COLUMNS, SWEEP_COLUMNS + 1, 70])
@pytest.mark.parametrize("order", ["C", "F"])
def test_row_argmax_is_numpys_first_maximum(width: int, order: str) -> None:
    rng = np.random.default_rng(width)
    # Few distinct values, so that ties are common: the first maximum must win.
    a = np.asarray(rng.integers(0, 3, (400, width)).astype(np.float64), order=order)  # type: ignore[call-overload]
    np.testing.assert_array_equal(row_argmax(a), np.argmax(a, axis=1))
