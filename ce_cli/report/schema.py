"""The sections of ``report.schema.json`` that the metric registry decides, generated from it:
``python -m ce_cli.report.schema`` prints them, to paste after declaring a metric; a test holds
the packaged file to them."""

from __future__ import annotations

from typing import Any

from ce_cli.report.metric import Metric
from ce_cli.report.registry import METRICS, REPORT_METRICS, SPEC_REQUIRED, WHEN_TEXT


def schema_sections() -> dict[str, Any]:
    """The sections of ``report.schema.json`` the registry decides (``metrics``,
    ``loss_quantiles``, ``confidence_intervals``); a test holds the file to them.
    ``python -m ce_cli.report.schema`` prints them, to paste after adding a metric."""
    quantiles = [m for m in METRICS if m.section == "loss_quantiles"]
    number = {"$ref": "#/$defs/number"}
    return {
        "metrics": {
            "type": "object",
            "required": list(SPEC_REQUIRED),
            "properties": {m.name: {**number, "description": _describe(m)} for m in REPORT_METRICS},
            "additionalProperties": number,
        },
        "loss_quantiles": {
            "type": "object",
            "required": [m.name for m in quantiles],
            "properties": {m.name: {**number, "description": _describe(m)} for m in quantiles},
            "additionalProperties": number,
        },
        "confidence_intervals": {
            "type": "object",
            "propertyNames": {"enum": [m.gate_name for m in METRICS if m.has_interval]},
            "additionalProperties": {"$ref": "#/$defs/interval"},
        },
    }


def _describe(m: Metric) -> str:
    unit = " In the report's base." if m.log_units else ""
    better = {"lower": " Lower is better.", "higher": " Higher is better.", "descriptive": ""}
    return f"{m.doc}.{unit}{better[m.direction]} Present in {WHEN_TEXT[m.when]}."


if __name__ == "__main__":
    import json

    for key, section in schema_sections().items():
        print(f'"{key}": {json.dumps(section, ensure_ascii=False)},')
