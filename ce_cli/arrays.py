"""Evaluate NumPy arrays in memory, through the same resolver checks, kernel and accumulator.

:func:`evaluate_arrays` builds an Arrow table from the arrays and runs
:func:`ce_cli.api.evaluate` on it, so arrays get exactly the checks and numbers a file gets.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import ArrayLike

from ce_cli.report import Report


def _as_table(
    predictions: ArrayLike,
    labels: ArrayLike | None,
    targets: ArrayLike | None,
    sample_weight: ArrayLike | None,
) -> tuple[pa.Table, dict[str, Any]]:
    pred = np.asarray(predictions)
    if pred.ndim == 1:
        pred = pred[:, None]
    columns: dict[str, Any] = {}
    options: dict[str, Any] = {}
    width = len(str(pred.shape[1]))
    pred_names = [
        f"p_{j:0{width}d}" if pred.shape[1] > 9 else f"p_{j}" for j in range(pred.shape[1])
    ]
    for j, name in enumerate(pred_names):
        columns[name] = pred[:, j]
    if labels is not None:
        columns["label"] = np.asarray(labels)
        options["label_col"] = "label"
    if targets is not None:
        t = np.asarray(targets, dtype=np.float64)
        if t.ndim == 1:
            t = t[:, None]
        for j in range(t.shape[1]):
            columns[f"__target_{j}"] = t[:, j]
        options["target_cols"] = tuple(f"__target_{j}" for j in range(t.shape[1]))
    if sample_weight is not None:
        columns["__weight"] = np.asarray(sample_weight, dtype=np.float64)
        options["weight_col"] = "__weight"
    options["prob_cols"] = tuple(pred_names)
    return pa.table(columns), options


def evaluate_arrays(
    predictions: ArrayLike,
    labels: ArrayLike | None = None,
    *,
    targets: ArrayLike | None = None,
    sample_weight: ArrayLike | None = None,
    **options: Any,
) -> Report:
    """Evaluate ``predictions`` (rows × classes; 1-D for binary) against labels or targets.

    ``options`` are those of :class:`~ce_cli.settings.Settings` (``logits``, ``task``, ``loss``,
    ``gamma``, ``alpha``, ``smoothing``, ``class_weights``, ``base``, ``bins``).

    >>> r = evaluate_arrays([[0.2, 0.7, 0.1]], [1], base="bits", logits=False)
    >>> round(r.metrics["cross_entropy"], 3)
    0.515
    """
    from ce_cli.api import evaluate

    table, column_options = _as_table(predictions, labels, targets, sample_weight)
    return evaluate(table, **column_options, **options)
