"""The per-class table held as columns: every row, and every byte of its JSON, as the row dicts
built one class at a time (the reference below is that construction) and ``json.dumps``."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ce_cli.api import evaluate
from ce_cli.arrays import evaluate_arrays
from ce_cli.render.json import clean, render_json
from ce_cli.report.per_class import PerClassRows, per_class_rows


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator > 0 else None


def _reference_rows(names: list[str], sums: dict[str, np.ndarray], base_divisor: float) -> list:
    """The rows as they were built before the table went columnar: Python floats, a class at a
    time."""
    rows = []
    for c, name in enumerate(names):
        loss = _ratio(float(sums["loss"][c]), float(sums["loss_denominator"][c]))
        den = float(sums["denominator"][c])
        ce = _ratio(float(sums["cross_entropy"][c]), den)
        ece = sums["eces"]
        rows.append(
            {
                "class": name,
                "support": int(sums["rows"][c]),
                "weight": float(sums["weight"][c]),
                "loss": None if loss is None else loss / base_divisor,
                "cross_entropy": None if ce is None else ce / base_divisor,
                "accuracy": _ratio(float(sums["correct"][c]), den),
                "mean_confidence": _ratio(float(sums["confidence"][c]), den),
                "mean_true_prob": _ratio(float(sums["true_prob"][c]), den),
                "predicted": float(sums["predicted"][c]),
                "ece": None if ece is None or math.isnan(ece[c]) else float(ece[c]),
            }
        )
    return rows


NUMBER = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1.0, 1e-300, 5e-324, 1e300, 0.1, 2.0 / 3.0]),
)
NAME = st.text(min_size=0, max_size=8) | st.sampled_from(["a, b", 'q"uote', "ünï", "😀", "\\"])


@settings(max_examples=150, deadline=None)
@given(
    data=st.data(),
    n=st.integers(0, 12),
    base_divisor=st.sampled_from([1.0, math.log(2.0), math.log(10.0)]),
    with_ece=st.booleans(),
)
def test_columns_give_the_rows_and_bytes_of_one_class_at_a_time(
    data: st.DataObject, n: int, base_divisor: float, with_ece: bool
) -> None:
    def column() -> np.ndarray:
        return np.array(data.draw(st.lists(NUMBER, min_size=n, max_size=n)), dtype=np.float64)

    names = data.draw(st.lists(NAME, min_size=n, max_size=n))
    counts = np.array(data.draw(st.lists(st.integers(0, 2**40), min_size=n, max_size=n)), float)
    sums = {key: column() for key in ("weight", "loss", "loss_denominator", "cross_entropy")}
    sums |= {key: column() for key in ("correct", "confidence", "true_prob", "predicted")}
    sums["denominator"] = column()
    sums["rows"] = counts
    sums["eces"] = column() if with_ece else None
    table = per_class_rows(
        names,
        rows=counts,
        weight=sums["weight"],
        loss=sums["loss"],
        loss_denominator=sums["loss_denominator"],
        cross_entropy=sums["cross_entropy"],
        correct=sums["correct"],
        confidence=sums["confidence"],
        true_prob=sums["true_prob"],
        predicted=sums["predicted"],
        denominator=sums["denominator"],
        eces=sums["eces"],
        base_divisor=base_divisor,
    )
    reference = _reference_rows(names, sums, base_divisor)
    assert len(table) == n
    got = list(table)
    for row, want in zip(got, reference, strict=True):  # NaN is NaN: compare by repr
        assert repr(row) == repr(want)
    assert table.json_lines() == [json.dumps(clean(r), allow_nan=False) for r in reference]
    if n:
        assert repr(table[-1]) == repr(reference[-1]) and repr(table[1:3]) == repr(reference[1:3])


def _reference_encode(value: Any, depth: int, out: list[str]) -> None:
    """The JSON writer as it was: every list element through ``json.dumps`` on its own line."""
    pad = "  " * (depth + 1)
    if isinstance(value, dict) and value:
        out.append("{\n")
        for i, (key, item) in enumerate(value.items()):
            out.append(f"{pad}{json.dumps(str(key))}: ")
            _reference_encode(item, depth + 1, out)
            out.append(",\n" if i < len(value) - 1 else "\n")
        out.append("  " * depth + "}")
    elif isinstance(value, list | tuple) and value:
        lines = (pad + json.dumps(clean(item), allow_nan=False) for item in value)
        out.append("[\n" + ",\n".join(lines) + "\n" + "  " * depth + "]")
    else:
        out.append(json.dumps(clean(value), allow_nan=False))


def _generic_json(report: Any) -> str:
    """The JSON report through the element-by-element writer (the per-class rows as dicts)."""
    out: list[str] = []
    _reference_encode(report.to_dict(), 0, out)
    return "".join(out) + "\n"


def test_json_report_bytes_equal_the_row_by_row_encoding() -> None:
    rng = np.random.default_rng(7)
    z = rng.normal(size=(300, 5)) * 3
    labels = rng.integers(0, 4, 300)  # class 4 never occurs: its means are null
    reports = [
        evaluate_arrays(z, labels, logits=True, classes=["a, b", 'q"', "ü", "d", "e"]),
        evaluate_arrays(z, labels, logits=True, weight_col=None, base="bits", bins=7),
        evaluate_arrays(rng.uniform(size=300), rng.integers(0, 2, 300)),
        evaluate_arrays(
            1 / (1 + np.exp(-z)),
            targets=(rng.uniform(size=z.shape) < 0.3) * 1.0,
            task="multilabel",
        ),
        evaluate("sample_data/multiclass.parquet", weight_col="weight", base="bits"),
    ]
    for report in reports:
        assert isinstance(report.per_class, PerClassRows)
        assert render_json(report) == _generic_json(report)
        assert report.to_dict()["per_class"] == list(report.per_class)
