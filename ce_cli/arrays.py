"""Evaluate NumPy arrays in memory, through the same resolver checks, kernel and accumulator.

:func:`evaluate_arrays` builds an Arrow table from the arrays and runs
:func:`ce_cli.api.evaluate` on it, so arrays get exactly the checks and numbers a file gets.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import ArrayLike

from ce_cli.errors import LabelError, UsageError
from ce_cli.report.report import Report


def _string_labels(
    labels: np.ndarray, width: int, classes: Any
) -> tuple[np.ndarray, dict[str, Any]]:
    """String labels: with ``classes`` they name the prediction columns in order; without,
    the classes are the sorted distinct labels (scikit-learn's ``classes_`` order, so a
    ``predict_proba`` matrix lines up), and binary's one column is P(the second class)."""
    text = labels.astype(str)
    if classes is not None:
        names = tuple(str(c) for c in classes)
        if width == 1 and len(names) == 2:  # one column: P(names[1])
            return _binary_labels(text, names), {}
        return text, {"classes": names}
    names = tuple(str(c) for c in np.unique(text))
    if width == 1:
        if len(names) != 2:
            raise UsageError(
                f"one prediction column, but the labels hold {len(names)} distinct values",
                hint="binary labels have two values; pass classes=(negative, positive)",
            )
        return _binary_labels(text, names), {}
    if len(names) != width:
        raise UsageError(
            f"the labels hold {len(names)} distinct values but there are {width} prediction "
            "columns",
            hint="pass classes=(...) naming every column's class, in column order",
        )
    return text, {"classes": names}


def _binary_labels(text: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    unknown = ~np.isin(text, names)
    if unknown.any():
        row = int(np.argmax(unknown))
        raise LabelError(
            "label is not one of the classes",
            row=row + 1,
            value=str(text[row]),
            hint=f"classes are: {', '.join(names)}",
        )
    return np.asarray(text == names[1], dtype=np.int64)


def _as_table(
    predictions: ArrayLike,
    labels: ArrayLike | None,
    targets: ArrayLike | None,
    sample_weight: ArrayLike | None,
    classes: Any = None,
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
        label_array = np.asarray(labels)
        if label_array.dtype.kind in "USO" and not all(
            isinstance(v, (int, np.integer)) for v in label_array.ravel()[:1]
        ):
            label_array, options = _string_labels(label_array, pred.shape[1], classes)
        columns["label"] = label_array
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

    Labels are class indices, or class names: with ``classes=`` naming the columns in
    order, else the sorted distinct labels (scikit-learn's ``classes_``, the column order of
    ``predict_proba``).

    >>> r = evaluate_arrays([[0.2, 0.7, 0.1]], [1], base="bits", logits=False)
    >>> round(r.metrics["cross_entropy"], 3)
    0.515
    >>> r = evaluate_arrays([[0.8, 0.2], [0.3, 0.7]], ["cat", "dog"])
    >>> r.detection.classes, round(r.metrics["cross_entropy"], 4)
    (('cat', 'dog'), 0.2899)
    """
    from ce_cli.api import evaluate

    table, column_options = _as_table(
        predictions, labels, targets, sample_weight, options.get("classes")
    )
    if "classes" in column_options:
        options = {**options, "classes": column_options.pop("classes")}
    elif options.get("classes") is not None and np.asarray(predictions).ndim == 1:
        options = {k: v for k, v in options.items() if k != "classes"}
    return evaluate(table, **column_options, **options)
