"""The gates as the command takes them: ``--max``/``--min`` and ``--allow-regression`` parsed,
judged against the report (and a baseline), and the failures annotated for CI."""

from __future__ import annotations

import os
import sys
from typing import Any


def _parse_gates(max_gate: list[str] | None, min_gate: list[str] | None) -> list[Any]:
    if not max_gate and not min_gate:
        return []
    from ce_cli.judge.gates import parse_gate

    gates = [parse_gate(text, "max") for text in max_gate or []]
    return gates + [parse_gate(text, "min") for text in min_gate or []]


def _parse_regressions(texts: list[str] | None) -> dict[str, float]:
    from ce_cli.errors import UsageError

    allowed: dict[str, float] = {}
    for text in texts or []:
        metric, _, value = text.partition("=")
        try:
            allowed[metric.strip()] = float(value)
        except ValueError:
            raise UsageError(
                "--allow-regression takes METRIC=DELTA", value=text, hint="e.g. ece=0.01"
            ) from None
    return allowed


def _judge(
    report: Any,
    gates: list[Any],
    use_interval: bool,
    baseline: dict[str, Any] | None,
    allowed: dict[str, float],
) -> tuple[Any, list[str]]:
    """Add the gates' and the baseline's outcomes to the report; return it and the failures."""
    import dataclasses

    if not gates and baseline is None:
        return report, []
    extra = dict(report.extra)
    failed: list[str] = []
    data = report.to_dict()
    if gates:
        from ce_cli.judge.gates import evaluate_gates, gates_to_dict

        results = gates_to_dict(evaluate_gates(data, gates, use_interval=use_interval))
        extra["gates"] = results
        for r in results:
            if not r["passed"]:
                sign = ">" if r["op"] == "max" else "<"
                value = "missing" if r["value"] is None else f"{r['value']:.6g}"
                failed.append(f"gate failed: {r['metric']} = {value} {sign} {r['threshold']:g}")
    if baseline is not None:
        from ce_cli.judge.gates import compare_to_baseline

        rows = compare_to_baseline(data, baseline, allowed)
        extra["baseline"] = rows
        for r in rows:
            if r["passed"] is False:
                failed.append(
                    f"regression: {r['metric']} {r['baseline']:.6g} -> {r['current']:.6g} "
                    f"(allowed {r['allowed']:g})"
                )
    return dataclasses.replace(report, extra=extra), failed


def _annotate(failed: list[str]) -> None:
    """One line per failure on stderr; under GitHub Actions, as ::error:: annotations."""
    github = os.environ.get("GITHUB_ACTIONS") == "true"
    for message in failed:
        print(
            f"::error title=ce-eval::{message}" if github else f"ce-eval: {message}",
            file=sys.stderr,
        )
