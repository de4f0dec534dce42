"""The JSON report: the SPEC's keys, strict JSON (no NaN), stable key order."""

from __future__ import annotations

import json
import math
from typing import Any

from ce_cli.report import Report


def clean(value: Any) -> Any:
    """``value`` with non-finite floats replaced by ``None`` (strict JSON)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value


def render_json(report: Report) -> str:
    """The report as one JSON object (non-finite numbers become ``null``)."""
    return json.dumps(clean(report.to_dict()), indent=2, allow_nan=False) + "\n"
