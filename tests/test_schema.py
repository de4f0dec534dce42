"""The JSON report validates against the packaged JSON Schema (``ce_cli/report.schema.json``)
for every task and option mix, including the optional sections; broken reports do not."""

from __future__ import annotations

import dataclasses
import json
from importlib.resources import files
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

import ce_cli
from ce_cli.judge.gates import compare_to_baseline, evaluate_gates, gates_to_dict, parse_gate
from ce_cli.render.json import render_json
from ce_cli.report.report import Report

jsonschema = pytest.importorskip("jsonschema")


@pytest.fixture(scope="module")
def validator() -> Any:
    schema = json.loads(files("ce_cli").joinpath("report.schema.json").read_text("utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _json(report: Report) -> dict[str, Any]:
    return json.loads(render_json(report))


def _errors(validator: Any, data: dict[str, Any]) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(data)]


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


RNG = np.random.default_rng(0)
PROBS = _softmax(RNG.normal(size=(60, 4)))
LABELS = RNG.integers(0, 4, size=60)


def _binary() -> Report:
    q = RNG.uniform(0.01, 0.99, size=50)
    return ce_cli.evaluate_arrays(q, (q > RNG.uniform(size=50)).astype(int))


def _multiclass_everything() -> Report:
    return ce_cli.evaluate_arrays(
        PROBS,
        LABELS,
        sample_weight=RNG.uniform(0.5, 2.0, size=60),
        class_weights="1,2,0.5,1",
        smoothing=0.1,
        loss="focal",
        gamma=2.0,
        base="bits",
        bins=10,
    )


def _multiclass_logits_balanced() -> Report:
    logits = RNG.normal(scale=3.0, size=(60, 4))
    return ce_cli.evaluate_arrays(logits, LABELS, logits=True, class_weights="balanced")


def _multilabel() -> Report:
    q = RNG.uniform(0.01, 0.99, size=(40, 3))
    y = (RNG.uniform(size=(40, 3)) < q).astype(int)
    return ce_cli.evaluate_arrays(q, targets=y, task="multilabel", loss="focal", alpha=0.25)


def _soft() -> Report:
    targets = _softmax(RNG.normal(size=(60, 4)))
    return ce_cli.evaluate_arrays(PROBS, targets=targets, smoothing=0.05)


@pytest.mark.parametrize(
    "make",
    [_binary, _multiclass_everything, _multiclass_logits_balanced, _multilabel, _soft],
    ids=["binary", "multiclass-weights-focal-smoothing", "logits-balanced", "multilabel", "soft"],
)
def test_reports_validate(validator: Any, make: Any) -> None:
    data = _json(make())
    assert _errors(validator, data) == []


def test_multilabel_report_has_its_extra_metrics(validator: Any) -> None:
    metrics = _json(_multilabel())["metrics"]
    assert {"loss_per_label", "cross_entropy_per_label", "subset_accuracy"} <= set(metrics)


def test_empty_class_rows_have_nulls_and_validate(validator: Any) -> None:
    data = _json(ce_cli.evaluate_arrays([[0.2, 0.7, 0.1], [0.5, 0.3, 0.2]], [1, 0]))
    assert data["per_class"][2]["loss"] is None
    assert _errors(validator, data) == []


def test_optional_sections_validate(validator: Any) -> None:
    """Intervals, groups, worst rows, gates and a baseline comparison, as the CLI adds them."""
    table = pa.table(
        {
            **{f"p_{j}": PROBS[:, j] for j in range(4)},
            "label": LABELS,
            "id": [f"row-{i}" for i in range(60)],
            "site": ["a", "b", "c"] * 20,
        }
    )
    report = ce_cli.evaluate(
        table, group_col="site", id_col="id", top=3, ci=0.9, bootstrap=20, seed=1
    )
    data = report.to_dict()
    assert {"confidence_intervals", "groups", "worst"} <= set(data)
    gates = [parse_gate("ece=0.01", "max"), parse_gate("accuracy=0.1", "min")]
    extra = dict(report.extra)
    extra["gates"] = gates_to_dict(evaluate_gates(data, gates, use_interval=True))
    extra["baseline"] = compare_to_baseline(data, _json(report), {"ece": 0.01})
    out = _json(dataclasses.replace(report, extra=extra))
    assert _errors(validator, out) == []


def test_unknown_top_level_sections_are_allowed(validator: Any) -> None:
    data = _json(_binary())
    data["some_future_section"] = {"anything": [1, 2, 3]}
    assert _errors(validator, data) == []


def test_report_without_metrics_fails(validator: Any) -> None:
    data = _json(_binary())
    del data["metrics"]
    assert any("'metrics' is a required property" in e for e in _errors(validator, data))


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("metrics", "ece"), "0.1"),
        (("schema_version",), 1.5),
        (("n_samples",), -1),
        (("per_class", 0, "support"), None),
        (("calibration", "bins", 0, "count"), 0.5),
        (("detected", "task"), "regression"),
    ],
)
def test_wrong_types_fail(validator: Any, path: tuple[Any, ...], value: Any) -> None:
    data = _json(_multiclass_everything())
    target: Any = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert _errors(validator, data) != []


def test_missing_required_metric_fails(validator: Any) -> None:
    data = _json(_binary())
    del data["metrics"]["ece"]
    assert _errors(validator, data) != []
