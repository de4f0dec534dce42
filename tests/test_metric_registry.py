"""Every metric of the registry, through every invariant (as scikit-learn's test_common does).

One loop over :data:`ce_cli.report.registry.METRICS`: a new metric declared there is checked for its
direction, its units under ``--base``, its presence in the JSON report, the table, Markdown,
HTML, JUnit and the JSON Schema, its gates (point and, where declared, interval) and its
baseline direction, without a line added here.
"""

from __future__ import annotations

import json
import math
from functools import cache
from importlib.resources import files
from typing import Any

import numpy as np
import pytest

import ce_cli
from ce_cli.errors import UsageError
from ce_cli.judge.gates import Gate, compare_to_baseline, evaluate_gates, metric_values
from ce_cli.render.html import render_html
from ce_cli.render.junit import render_junit
from ce_cli.render.markdown import render_markdown
from ce_cli.render.table import render_table
from ce_cli.report.metric import Metric
from ce_cli.report.registry import BY_GATE_NAME, BY_NAME, METRICS, REPORT_METRICS
from ce_cli.report.report import Report
from ce_cli.report.schema import schema_sections

SCHEMA = json.loads(files("ce_cli").joinpath("report.schema.json").read_text(encoding="utf-8"))
LN2 = math.log(2.0)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@cache
def _reports(base: str) -> dict[str, Report]:
    """One report per task, with intervals and the fitted temperature: between them, every
    metric of the registry."""
    rng = np.random.default_rng(11)
    n = 300
    z = rng.normal(size=(n, 3)) * 2
    y = rng.integers(0, 3, n)
    common: dict[str, Any] = {"ci": 0.9, "bootstrap": 40, "fit_temperature": True, "base": base}
    multilabel_y = (rng.random((n, 3)) < 0.4).astype(float)
    return {
        "multiclass": ce_cli.evaluate_arrays(z, y, logits=True, **common),
        "binary": ce_cli.evaluate_arrays(
            1 / (1 + np.exp(-z[:, 0])), (y == 0).astype(int), **common
        ),
        "multilabel": ce_cli.evaluate_arrays(
            z, targets=multilabel_y, logits=True, task="multilabel", **common
        ),
        "soft": ce_cli.evaluate_arrays(_softmax(z), targets=_softmax(z * 0.5 + 1), **common),
    }


def _having(metric: Metric) -> list[tuple[str, Report]]:
    out = [
        (task, r)
        for task, r in _reports("nats").items()
        if metric.gate_name in metric_values(r.to_dict())
    ]
    assert out, f"no report has {metric.gate_name}: declare when it is reported, or report it"
    return out


ALL = [pytest.param(m, id=m.gate_name) for m in METRICS]

# What SPEC.md and the references say of each metric, written here independently of the
# registry: (which way is better, a log scaled by --base). A new metric adds its line.
L, H, D = "lower", "higher", "descriptive"
EXPECTED = {
    "loss": (L, True),
    "cross_entropy": (L, True),
    "entropy": (D, True),
    "label_entropy": (D, True),
    "kl_divergence": (L, True),
    "perplexity": (L, False),
    "accuracy": (H, False),
    "brier": (L, False),
    "ece": (L, False),
    "mce": (L, False),
    "rmsce": (L, False),
    "rmsce_debiased": (L, False),
    "overconfidence": (D, False),  # signed: 0 is best, neither end
    "ece_adaptive": (L, False),
    "smece": (L, False),
    "ece_classwise": (L, False),
    "brier_reliability": (L, False),
    "brier_resolution": (H, False),
    "brier_uncertainty": (D, False),  # of the labels alone
    "loss_per_label": (L, True),
    "cross_entropy_per_label": (L, True),
    "subset_accuracy": (H, False),
    "temperature": (D, False),
    "cross_entropy_calibration": (L, True),
    "cross_entropy_refinement": (L, True),
    "ece_after_temperature": (L, False),
    "loss_p50": (L, True),
    "loss_p90": (L, True),
    "loss_p99": (L, True),
    "loss_min": (L, True),
    "loss_max": (L, True),
}


@pytest.mark.parametrize("metric", ALL)
def test_direction_and_units_are_the_definitions(metric: Metric) -> None:
    assert metric.gate_name in EXPECTED, "a new metric: add what its definition says here"
    assert (metric.direction, metric.log_units) == EXPECTED[metric.gate_name]


def test_names_are_unique_and_every_report_metric_is_declared() -> None:
    names = [m.gate_name for m in METRICS]
    assert len(names) == len(set(names))
    for report in _reports("nats").values():
        assert set(report.metrics) <= set(BY_NAME)
        assert list(report.metrics) == [k for k in BY_NAME if k in report.metrics]  # its order
        assert set(report.extra["confidence_intervals"]) <= set(BY_GATE_NAME)


@pytest.mark.parametrize("metric", ALL)
def test_declaration_is_complete(metric: Metric) -> None:
    assert metric.direction in ("lower", "higher", "descriptive")
    assert metric.doc and "\n" not in metric.doc and metric.label
    assert (metric.from_sums is not None) + (metric.from_bins is not None) <= 1
    # A metric finished from the sums or bins the bootstrap keeps has an interval; any other
    # says why not.
    finish = {"sums": metric.from_sums, "bins": metric.from_bins, "loss_histogram": metric.fraction}
    if metric.state in finish:
        assert metric.has_interval
        assert finish[metric.state] is not None
    else:
        assert metric.no_interval


@pytest.mark.parametrize("metric", ALL)
def test_log_units_scale_with_the_base(metric: Metric) -> None:
    nats, bits = _reports("nats"), _reports("bits")
    for task, _ in _having(metric):
        a = metric_values(nats[task].to_dict())[metric.gate_name]
        b = metric_values(bits[task].to_dict())[metric.gate_name]
        assert a is not None and b is not None
        expected = a / LN2 if EXPECTED[metric.gate_name][1] else a
        assert b == pytest.approx(expected, rel=1e-12, abs=1e-15), task


@pytest.mark.parametrize("metric", ALL)
def test_present_in_every_format_and_the_schema(metric: Metric) -> None:
    section = SCHEMA["properties"][metric.section]
    assert metric.name in section["properties"]
    for _, report in _having(metric):
        data = report.to_dict()
        assert metric.name in data[metric.section]
        if metric.section != "metrics":
            continue
        table = render_table(report, width=200)
        assert metric.label in table
        assert f"| {metric.name} |" in render_markdown(data)
        assert f"<code>{metric.name}</code>" in render_html(data)
        assert f'name="metric.{metric.name}"' in render_junit(data, [])


@pytest.mark.parametrize("metric", ALL)
def test_gate_able_on_its_point_and_on_its_interval_or_refused(metric: Metric) -> None:
    for _, report in _having(metric):
        data = report.to_dict()
        value = metric_values(data)[metric.gate_name]
        assert value is not None and math.isfinite(value)
        name = metric.gate_name
        [at_max, at_min] = evaluate_gates(
            data, [Gate(name, "max", value), Gate(name, "min", value)]
        )
        assert at_max.passed and at_min.passed and at_max.bound == "point"
        gates = [Gate(name, "max", math.inf), Gate(name, "min", -math.inf)]
        if metric.has_interval:
            interval = data["confidence_intervals"][name]
            high, low = evaluate_gates(data, gates, use_interval=True)
            assert (high.value, high.bound) == (interval["high"], "ci_high")
            assert (low.value, low.bound) == (interval["low"], "ci_low")
            assert interval["low"] <= interval["high"]
        else:
            assert name not in data["confidence_intervals"]
            with pytest.raises(UsageError, match="no interval"):
                evaluate_gates(data, gates, use_interval=True)


@pytest.mark.parametrize("metric", list(REPORT_METRICS))
def test_baseline_judges_by_its_direction(metric: Metric) -> None:
    _, report = _having(metric)[0]
    data = report.to_dict()
    value = data["metrics"][metric.name]
    direction = EXPECTED[metric.name][0]
    worse = value + 1.0 if direction == "lower" else value - 1.0
    baseline = {**data, "metrics": {**data["metrics"], metric.name: worse}}
    [row] = [r for r in compare_to_baseline(data, baseline, {}) if r["metric"] == metric.name]
    better = {"lower": True, "higher": False, "descriptive": None}[direction]
    assert row["passed"] is (None if better is None else True)
    baseline["metrics"][metric.name] = value - 1.0 if direction == "lower" else value + 1.0
    [row] = [r for r in compare_to_baseline(data, baseline, {}) if r["metric"] == metric.name]
    assert row["passed"] is (None if better is None else False)


def test_schema_sections_are_the_registrys() -> None:
    """After declaring a metric, ``python -m ce_cli.report.schema`` prints the sections."""
    for key, section in schema_sections().items():
        assert SCHEMA["properties"][key] == section, key


def test_unknown_gate_name_is_refused_with_the_closest() -> None:
    data = _reports("nats")["multiclass"].to_dict()
    with pytest.raises(UsageError, match="did you mean 'rmsce'"):
        evaluate_gates(data, [Gate("rmse", "max", 1.0)])
    assert set(BY_GATE_NAME) >= set(metric_values(data))
