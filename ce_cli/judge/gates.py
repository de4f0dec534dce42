"""Quality gates and baselines: the decisions a CI job takes on a report.

* ``--max METRIC=VALUE`` passes when the metric is at most VALUE, ``--min`` when at least.
  METRIC is any key of the report's ``metrics`` (``ece``, ``loss``, ``accuracy``, …) or of its
  ``loss_quantiles`` prefixed with ``loss_`` (``loss_p99``). With intervals (``--ci``) and
  ``use_interval``, a max-gate tests the interval's upper bound and a min-gate its lower bound:
  the gate passes only when the metric is within the threshold with that confidence. A metric
  that ``--ci`` gives no interval (the registry says why) is refused, never gated on its point.
* ``--baseline old.json`` compares with a saved report; a change in the bad direction larger
  than the allowed regression (default 0) fails.

Everything here works on the report as a dict (what ``--format json`` prints), so a saved
report and a fresh one are handled alike.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Literal, cast

from ce_cli.errors import InputFormatError, UsageError, did_you_mean
from ce_cli.report.registry import BY_GATE_NAME, METRICS, WHEN_TEXT

# Which way is better, from the registry (``descriptive`` metrics are shown, never judged).
LOWER_IS_BETTER = tuple(m.gate_name for m in METRICS if m.direction == "lower")
HIGHER_IS_BETTER = tuple(m.gate_name for m in METRICS if m.direction == "higher")
# Differences this small (relative to the baseline) are float noise, not regressions.
_NOISE = 1e-9
_SAVE_HINT = "save one with --format json -o baseline.json"


@dataclass(frozen=True)
class Gate:
    """``metric`` must be at most (``max``) or at least (``min``) ``threshold``."""

    metric: str
    op: Literal["max", "min"]
    threshold: float


@dataclass(frozen=True)
class GateResult:
    gate: Gate
    value: float | None
    passed: bool
    bound: str  # "point", "ci_high" or "ci_low"


def parse_gate(text: str, op: Literal["max", "min"]) -> Gate:
    """``"ece=0.05"`` → ``Gate("ece", op, 0.05)``.

    >>> parse_gate("ece=0.05", "max")
    Gate(metric='ece', op='max', threshold=0.05)
    """
    metric, sep, value = text.partition("=")
    metric = metric.strip()
    try:
        threshold = float(value)
    except ValueError:
        sep = ""
    if not sep or not metric or not math.isfinite(threshold):
        raise UsageError(f"--{op} takes METRIC=VALUE", value=text, hint=f"e.g. --{op} ece=0.05")
    return Gate(metric, op, threshold)


def metric_values(report: dict[str, Any]) -> dict[str, float | None]:
    """Every gateable value of a report dict: its metrics, ``loss_<quantile>`` and (with
    ``--sequence-col``) ``sequence_perplexity_<statistic>``."""
    values: dict[str, float | None] = dict(report.get("metrics", {}))
    for name, value in report.get("loss_quantiles", {}).items():
        values[f"loss_{name}"] = value
    sequences = report.get("sequences")  # --sequence-col: sequence_perplexity_p90, …
    for name, value in (sequences or {}).get("perplexity", {}).items():
        values[f"sequence_perplexity_{name}"] = value
    return values


# Present only with --fit-temperature.
TEMPERATURE_METRICS = tuple(m.name for m in METRICS if m.when == "temperature")


def _unknown(gate: Gate, values: dict[str, float | None]) -> UsageError:
    """Why ``gate`` names nothing this report has, and what to write instead."""
    declared = BY_GATE_NAME.get(gate.metric)
    if declared is not None and declared.when == "temperature":
        return UsageError(
            f"--{gate.op} {gate.metric} needs the fitted temperature", hint="add --fit-temperature"
        )
    if declared is not None:
        return UsageError(
            f"--{gate.op} {gate.metric}: this report has no {gate.metric} "
            f"(it is reported for {WHEN_TEXT[declared.when]})",
            hint="metrics are: " + ", ".join(sorted(values)),
        )
    hint = did_you_mean(gate.metric, values) + "metrics are: " + ", ".join(sorted(values))
    return UsageError(f"--{gate.op} names an unknown metric '{gate.metric}'", hint=hint)


def check_gate_names(gates: list[Gate]) -> None:
    """Refuse, before any row is read, a gate on a name the registry does not know."""
    for gate in gates:
        if gate.metric not in BY_GATE_NAME:
            raise _unknown(gate, dict.fromkeys(BY_GATE_NAME))


def check_interval_gates(gates: list[Gate]) -> None:
    """Refuse ``--gate-on-interval`` on a metric that ``--ci`` gives no interval (it would be
    gated on its point value, silently)."""
    for gate in gates:
        declared = BY_GATE_NAME.get(gate.metric)
        if declared is not None and not declared.has_interval:
            raise UsageError(
                f"--gate-on-interval cannot gate {gate.metric}: --ci gives it no interval "
                f"({declared.no_interval})",
                hint=f"gate {gate.metric} in a separate run without --gate-on-interval",
            )


def evaluate_gates(
    report: dict[str, Any], gates: list[Gate], *, use_interval: bool = False
) -> list[GateResult]:
    """Test each gate on the report (a missing or non-finite value fails)."""
    if use_interval:
        check_interval_gates(gates)
    values = metric_values(report)
    intervals = report.get("confidence_intervals", {})
    results = []
    for gate in gates:
        if gate.metric not in values:
            raise _unknown(gate, values)
        value = values[gate.metric]
        bound = "point"
        if use_interval:
            # An interval the bootstrap could not give (no finite replicate) fails the gate.
            side = "high" if gate.op == "max" else "low"
            value, bound = intervals.get(gate.metric, {}).get(side), f"ci_{side}"
        ok = value is not None and math.isfinite(value)
        if ok:
            assert value is not None
            ok = value <= gate.threshold if gate.op == "max" else value >= gate.threshold
        results.append(GateResult(gate, value, ok, bound))
    return results


def gates_to_dict(results: list[GateResult]) -> list[dict[str, Any]]:
    """The gates' outcomes for the JSON report."""
    return [
        {
            "metric": r.gate.metric,
            "op": r.gate.op,
            "threshold": r.gate.threshold,
            "value": r.value,
            "passed": r.passed,
            "bound": r.bound,
        }
        for r in results
    ]


def load_baseline(path: str) -> dict[str, Any]:
    """A saved ce-eval JSON report, checked enough to compare against."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise InputFormatError("the baseline report does not exist", file=path) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputFormatError(
            f"the baseline is not valid JSON ({exc.__class__.__name__})",
            file=path,
            hint=_SAVE_HINT,
        ) from None
    except OSError as exc:
        raise InputFormatError(
            f"cannot read the baseline ({exc.strerror or exc.__class__.__name__})", file=path
        ) from None
    return check_baseline(data, path)


def check_baseline(data: Any, source: str = "baseline") -> dict[str, Any]:
    """``data`` if it is a ce-eval JSON report (integer schema_version, metrics of numbers)."""
    version = data.get("schema_version") if isinstance(data, dict) else None
    metrics = data.get("metrics") if isinstance(data, dict) else None
    if isinstance(version, bool) or not isinstance(version, int) or not isinstance(metrics, dict):
        raise InputFormatError(
            "the baseline is not a ce-eval JSON report", file=source, hint=_SAVE_HINT
        )
    from ce_cli.report.report import SCHEMA_VERSION

    if version != SCHEMA_VERSION:
        newer = version > SCHEMA_VERSION
        raise InputFormatError(
            f"the baseline has schema_version {version}; this ce-eval reads {SCHEMA_VERSION}",
            file=source,
            hint="upgrade ce-eval to read it" if newer else _SAVE_HINT,
        )
    for name, value in metrics.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise InputFormatError(
                f"the baseline's metric '{name}' is not a number", file=source, value=value
            )
    return cast(dict[str, Any], data)


def compare_to_baseline(
    report: dict[str, Any],
    baseline: dict[str, Any],
    allowed: dict[str, float],
    default_allowed: float = 0.0,
) -> list[dict[str, Any]]:
    """Old, new and delta per metric; ``passed`` is ``None`` for descriptive metrics."""
    check_baseline(baseline)
    if baseline.get("base", report.get("base")) != report.get("base"):
        raise UsageError(
            f"the baseline's logs are in {baseline['base']}, this report's in {report['base']}",
            hint=f"rerun with --base {baseline['base']}",
        )
    unknown = set(allowed) - set(report.get("metrics", {}))
    if unknown:
        raise UsageError(
            f"--allow-regression names an unknown metric '{sorted(unknown)[0]}'",
            hint=did_you_mean(sorted(unknown)[0], report.get("metrics", {}))
            + "metrics are: "
            + ", ".join(sorted(report.get("metrics", {}))),
        )
    rows = []
    for metric, current in report.get("metrics", {}).items():
        old = baseline.get("metrics", {}).get(metric)
        if old is None or current is None:
            continue
        delta = current - old
        tolerance = allowed.get(metric, default_allowed)
        slack = tolerance + _NOISE * max(1.0, abs(old))
        if metric in LOWER_IS_BETTER:
            direction, passed = "lower is better", delta <= slack
        elif metric in HIGHER_IS_BETTER:
            direction, passed = "higher is better", -delta <= slack
        else:
            direction, passed = "descriptive", None
        rows.append(
            {
                "metric": metric,
                "baseline": old,
                "current": current,
                "delta": delta,
                "allowed": tolerance,
                "direction": direction,
                "passed": passed,
            }
        )
    return rows
