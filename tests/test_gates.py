"""Quality gates (``--max``/``--min``), interval gates, baselines and their exit codes."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ce_cli
from ce_cli.cli.main import main
from ce_cli.errors import CeEvalError, InputFormatError, UsageError
from ce_cli.judge.gates import (
    Gate,
    compare_to_baseline,
    evaluate_gates,
    gates_to_dict,
    load_baseline,
    parse_gate,
)
from ce_cli.render.json import render_json


def _report(**metrics: Any) -> dict[str, Any]:
    base = {
        "loss": 0.5,
        "cross_entropy": 0.5,
        "entropy": 0.9,
        "label_entropy": 0.0,
        "kl_divergence": 0.5,
        "perplexity": 1.65,
        "accuracy": 0.8,
        "brier": 0.3,
        "ece": 0.05,
        "mce": 0.2,
    }
    base.update(metrics)
    return {
        "schema_version": 1,
        "base": "nats",
        "metrics": base,
        "loss_quantiles": {"p50": 0.3, "p90": 1.2, "p99": 2.5, "min": 0.01, "max": 4.0},
    }


# --- parse_gate -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "op", "expected"),
    [
        ("ece=0.05", "max", Gate("ece", "max", 0.05)),
        ("accuracy=0.9", "min", Gate("accuracy", "min", 0.9)),
        (" loss = 1e-1 ", "max", Gate("loss", "max", 0.1)),
        ("loss_p99=3", "max", Gate("loss_p99", "max", 3.0)),
        ("brier=-0", "max", Gate("brier", "max", 0.0)),
    ],
)
def test_parse_gate_accepts(text: str, op: Any, expected: Gate) -> None:
    assert parse_gate(text, op) == expected


@pytest.mark.parametrize(
    "text", ["ece", "ece=", "=0.05", "ece=abc", "ece=nan", "ece=inf", "ece:0.05", ""]
)
def test_parse_gate_rejects_with_a_usage_error_naming_the_gate(text: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_gate(text, "max")
    message = str(info.value)
    assert "--max" in message
    assert "e.g. --max ece=0.05" in message
    if text:
        assert repr(text) in message
    assert info.value.exit_code == 2


def test_gate_is_frozen() -> None:
    gate = parse_gate("ece=0.05", "max")
    with pytest.raises(AttributeError):
        gate.threshold = 1.0  # type: ignore[misc]


# --- evaluate_gates ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "passed"), [(0.04, True), (0.05, True), (0.0500001, False), (0.5, False)]
)
def test_max_gate_passes_at_or_below_the_threshold(value: float, passed: bool) -> None:
    [result] = evaluate_gates(_report(ece=value), [Gate("ece", "max", 0.05)])
    assert (result.value, result.passed, result.bound) == (value, passed, "point")


@pytest.mark.parametrize(
    ("value", "passed"), [(0.95, True), (0.9, True), (0.8999999, False), (0.1, False)]
)
def test_min_gate_passes_at_or_above_the_threshold(value: float, passed: bool) -> None:
    [result] = evaluate_gates(_report(accuracy=value), [Gate("accuracy", "min", 0.9)])
    assert (result.value, result.passed) == (value, passed)


def test_gates_keep_their_order_and_quantiles_are_gateable() -> None:
    gates = [Gate("loss_p99", "max", 2.0), Gate("loss_p50", "max", 1.0), Gate("ece", "min", 0.0)]
    results = evaluate_gates(_report(), gates)
    assert [r.gate for r in results] == gates
    assert [r.value for r in results] == [2.5, 0.3, 0.05]
    assert [r.passed for r in results] == [False, True, True]


@pytest.mark.parametrize("value", [None, math.nan])
@pytest.mark.parametrize("op", ["max", "min"])
def test_missing_or_nan_value_fails(value: float | None, op: Any) -> None:
    [result] = evaluate_gates(_report(ece=value), [Gate("ece", op, 0.5)])
    assert result.passed is False


def test_unknown_metric_lists_the_available_names() -> None:
    with pytest.raises(UsageError) as info:
        evaluate_gates(_report(), [Gate("eec", "max", 0.05)])
    message = str(info.value)
    assert "eec" in message
    for name in ("accuracy", "ece", "loss", "loss_p99"):
        assert name in message


def test_multilabel_only_metric_is_unknown_for_multiclass() -> None:
    data = ce_cli.evaluate_arrays([[0.2, 0.7, 0.1], [0.5, 0.3, 0.2]], [1, 0]).to_dict()
    with pytest.raises(UsageError):
        evaluate_gates(data, [Gate("subset_accuracy", "min", 0.5)])


def _with_interval(metric: str, low: float | None, high: float | None) -> dict[str, Any]:
    data = _report()
    data["confidence_intervals"] = {metric: {"low": low, "high": high, "level": 0.95}}
    return data


def test_interval_mode_uses_the_conservative_bound() -> None:
    data = _with_interval("ece", 0.03, 0.07)
    data["confidence_intervals"]["accuracy"] = {"low": 0.85, "high": 0.95, "level": 0.95}
    gates = [Gate("ece", "max", 0.06), Gate("accuracy", "min", 0.8), Gate("accuracy", "min", 0.9)]
    point = evaluate_gates(data, gates)
    assert [r.passed for r in point] == [True, True, False]
    assert {r.bound for r in point} == {"point"}
    ci = evaluate_gates(data, gates, use_interval=True)
    assert [r.value for r in ci] == [0.07, 0.85, 0.85]
    assert [r.passed for r in ci] == [False, True, False]
    assert ci[0].bound != "point" and ci[1].bound != "point"
    assert ci[0].bound != ci[1].bound  # the upper bound for max, the lower for min


def test_interval_mode_refuses_a_metric_the_bootstrap_gives_no_interval() -> None:
    # It used to be gated on its point value, silently; now the registry's reason is the error.
    with pytest.raises(UsageError, match="smece: --ci gives it no interval"):
        evaluate_gates(
            _with_interval("ece", 0.0, 0.1), [Gate("smece", "max", 3.0)], use_interval=True
        )


def test_interval_mode_fails_a_gate_whose_interval_is_missing() -> None:
    [result] = evaluate_gates(
        _with_interval("ece", 0.0, 0.1), [Gate("accuracy", "min", 0.5)], use_interval=True
    )
    assert (result.value, result.passed, result.bound) == (None, False, "ci_low")


def test_unknown_metric_suggests_the_closest_name() -> None:
    with pytest.raises(UsageError, match="did you mean 'ece'"):
        evaluate_gates(_report(), [Gate("eec", "max", 0.1)])


def test_interval_bound_that_is_null_fails() -> None:
    [result] = evaluate_gates(
        _with_interval("ece", None, None), [Gate("ece", "max", 1.0)], use_interval=True
    )
    assert result.passed is False


def test_gates_to_dict_is_json_ready() -> None:
    results = evaluate_gates(_report(), [Gate("ece", "max", 0.01), Gate("accuracy", "min", 0.5)])
    rows = gates_to_dict(results)
    assert rows == [
        {
            "metric": "ece",
            "op": "max",
            "threshold": 0.01,
            "value": 0.05,
            "passed": False,
            "bound": "point",
        },
        {
            "metric": "accuracy",
            "op": "min",
            "threshold": 0.5,
            "value": 0.8,
            "passed": True,
            "bound": "point",
        },
    ]
    json.dumps(rows, allow_nan=False)


# --- compare_to_baseline ----------------------------------------------------------------


def _rows(current: dict[str, Any], baseline: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return {r["metric"]: r for r in compare_to_baseline(current, baseline, **kw)}


def test_identical_reports_pass_every_directional_metric() -> None:
    rows = _rows(_report(), _report(), allowed={})
    assert set(rows) == set(_report()["metrics"])
    for name, row in rows.items():
        assert row["delta"] == 0.0
        assert row["passed"] is (None if name in ("entropy", "label_entropy") else True)


def test_lower_is_better_metric_regresses_upwards_only() -> None:
    worse = _rows(_report(ece=0.08), _report(ece=0.05), allowed={})["ece"]
    assert worse["passed"] is False
    assert worse["delta"] == pytest.approx(0.03)
    assert (worse["baseline"], worse["current"]) == (0.05, 0.08)
    better = _rows(_report(ece=0.01), _report(ece=0.05), allowed={})["ece"]
    assert better["passed"] is True


def test_higher_is_better_metric_regresses_downwards_only() -> None:
    assert _rows(_report(accuracy=0.7), _report(), allowed={})["accuracy"]["passed"] is False
    assert _rows(_report(accuracy=0.9), _report(), allowed={})["accuracy"]["passed"] is True


def test_descriptive_metrics_never_pass_or_fail() -> None:
    rows = _rows(_report(entropy=5.0, label_entropy=1.0), _report(), allowed={})
    assert rows["entropy"]["passed"] is None
    assert rows["label_entropy"]["passed"] is None
    assert rows["entropy"]["direction"] != rows["ece"]["direction"]
    assert rows["accuracy"]["direction"] not in (rows["ece"]["direction"], "descriptive")


def test_allowed_regression_per_metric_and_default() -> None:
    current, baseline = _report(ece=0.07, loss=0.6), _report(ece=0.05, loss=0.5)
    rows = _rows(current, baseline, allowed={"ece": 0.021})
    assert rows["ece"]["passed"] is True
    assert rows["ece"]["allowed"] == 0.021
    assert rows["loss"]["passed"] is False
    rows = _rows(current, baseline, allowed={"ece": 0.019})
    assert rows["ece"]["passed"] is False
    rows = _rows(current, baseline, allowed={}, default_allowed=0.2)
    assert rows["ece"]["passed"] is True
    assert rows["loss"]["passed"] is True


def test_exactly_the_allowed_change_passes() -> None:
    rows = _rows(_report(ece=0.07), _report(ece=0.05), allowed={"ece": 0.02})
    assert rows["ece"]["passed"] is True


def test_allowed_regression_for_an_unknown_metric_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="eec"):
        compare_to_baseline(_report(), _report(), {"eec": 0.1})


def test_only_metrics_in_both_reports_are_compared() -> None:
    current = _report(subset_accuracy=0.5)
    baseline = _report()
    del baseline["metrics"]["mce"]
    rows = _rows(current, baseline, allowed={})
    assert "subset_accuracy" not in rows
    assert "mce" not in rows


def test_a_metric_that_became_nan_is_a_regression() -> None:
    row = _rows(_report(ece=math.nan), _report(), allowed={})["ece"]
    assert row["passed"] is False


def test_baseline_in_another_base_is_refused_or_converted() -> None:
    probs, labels = [[0.2, 0.7, 0.1], [0.5, 0.3, 0.2]], [1, 0]
    nats = ce_cli.evaluate_arrays(probs, labels).to_dict()
    bits = json.loads(render_json(ce_cli.evaluate_arrays(probs, labels, base="bits")))
    try:
        rows = _rows(nats, bits, allowed={})
    except UsageError:
        return
    assert rows["cross_entropy"]["delta"] == pytest.approx(0.0)


def test_malformed_baseline_dict_is_an_input_error() -> None:
    with pytest.raises(CeEvalError):
        compare_to_baseline(_report(), {"schema_version": 1, "metrics": 5}, {})


# --- load_baseline ----------------------------------------------------------------------


def test_load_baseline_reads_a_saved_report(tmp_path: Path) -> None:
    report = ce_cli.evaluate_arrays([[0.2, 0.7, 0.1], [0.5, 0.3, 0.2]], [1, 0])
    path = tmp_path / "baseline.json"
    path.write_text(render_json(report), encoding="utf-8")
    data = load_baseline(str(path))
    assert data["metrics"] == pytest.approx(report.metrics)
    rows = compare_to_baseline(report.to_dict(), data, {})
    assert all(r["passed"] is not False for r in rows)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (None, "not exist"),
        ("{not json", "JSON"),
        (b"\xff\xfe\x00binary", "JSON"),
        ("[1, 2, 3]", "ce-eval"),
        ('{"metrics": {"loss": 1}}', "ce-eval"),
        ('{"schema_version": 1}', "ce-eval"),
    ],
    ids=["missing", "invalid-json", "not-utf8", "a-list", "no-version", "no-metrics"],
)
def test_load_baseline_errors_are_one_line_input_errors(
    tmp_path: Path, content: str | bytes | None, needle: str
) -> None:
    path = tmp_path / "old.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(InputFormatError) as info:
        load_baseline(str(path))
    message = str(info.value)
    assert str(path) in message
    assert needle in message
    assert "\n" not in message


def test_load_baseline_on_a_directory_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputFormatError):
        load_baseline(str(tmp_path))


# --- through the command ----------------------------------------------------------------


@pytest.fixture
def predictions(tmp_path: Path) -> Path:
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(200, 3))
    q = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = np.array([rng.choice(3, p=row) for row in q])
    lines = ["p_0,p_1,p_2,label"] + [
        f"{a:.17g},{b:.17g},{c:.17g},{y}" for (a, b, c), y in zip(q, labels, strict=True)
    ]
    path = tmp_path / "preds.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _run(*args: str) -> int:
    return main([*args])


def test_cli_gate_failure_exits_1_and_still_writes_the_report(
    predictions: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.json"
    code = _run(
        str(predictions), "--format", "json", "-o", str(out), "--max", "ece=0", "--min=accuracy=0"
    )
    assert code == 1
    data = json.loads(out.read_text(encoding="utf-8"))
    assert [(g["metric"], g["passed"]) for g in data["gates"]] == [
        ("ece", False),
        ("accuracy", True),
    ]
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "ece" in captured.err


def test_cli_gates_pass_exit_0(predictions: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    assert _run(str(predictions), "--format=json", "-o", str(out), "--max", "ece=1") == 0


def test_cli_bad_gate_exits_2(predictions: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(str(predictions), "--max", "ece") == 2
    assert _run(str(predictions), "--max", "nonsense=1") == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "nonsense" in captured.err


def test_cli_baseline_regression_exits_1(predictions: Path, tmp_path: Path) -> None:
    baseline = tmp_path / "baseline.json"
    assert _run(str(predictions), "--format", "json", "-o", str(baseline)) == 0
    data = json.loads(baseline.read_text(encoding="utf-8"))
    out = tmp_path / "again.json"
    assert _run(str(predictions), "--baseline", str(baseline), "-o", str(out)) == 0
    data["metrics"]["ece"] /= 2
    baseline.write_text(json.dumps(data), encoding="utf-8")
    assert _run(str(predictions), "--baseline", str(baseline), "-o", str(out)) == 1
    args = ["--allow-regression", "ece=1"]
    assert _run(str(predictions), "--baseline", str(baseline), *args, "-o", str(out)) == 0


def test_cli_missing_baseline_exits_2(predictions: Path, tmp_path: Path) -> None:
    assert _run(str(predictions), "--baseline", str(tmp_path / "nope.json")) == 2
