"""The JSON report: the SPEC's keys, strict JSON (no NaN), stable key order.

Objects are indented; a list holds one element a line, and an element that is itself an object
or a list (a per-class row, a calibration bin) is written on its own single line. The report of
a 256k-class vocabulary has 256k per-class rows: written this way each row is one call of the C
encoder, where indenting every key went through the pure-Python encoder in millions of small
strings (about 500 MB and seconds more for that report). The per-class rows are written from
the report's columns (:meth:`~ce_cli.report.per_class.PerClassRows.json_text`), the same bytes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

from ce_cli.report.per_class import PerClassRows
from ce_cli.report.report import Report

_INDENT = "  "


def clean(value: Any) -> Any:
    """``value`` with non-finite floats replaced by ``None`` (strict JSON)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value


def _encode(value: Any, depth: int, out: list[str]) -> None:
    pad = _INDENT * (depth + 1)
    if isinstance(value, dict) and value:
        out.append("{\n")
        for i, (key, item) in enumerate(value.items()):
            out.append(f"{pad}{json.dumps(str(key))}: ")
            _encode(item, depth + 1, out)
            out.append(",\n" if i < len(value) - 1 else "\n")
        out.append(_INDENT * depth + "}")
    elif isinstance(value, PerClassRows):
        text = value.json_text(pad)
        out.append("[\n" + text + "\n" + _INDENT * depth + "]" if text else "[]")
    elif isinstance(value, list | tuple) and value:
        items: Iterable[str]
        if all(type(item) is str for item in value):  # class names: the C encoder, one map
            items = map(json.encoder.encode_basestring_ascii, value)  # json.dumps(str) is that
        else:
            items = (json.dumps(clean(item), allow_nan=False) for item in value)
        lines = (pad + item for item in items)
        out.append("[\n" + ",\n".join(lines) + "\n" + _INDENT * depth + "]")
    else:
        out.append(json.dumps(clean(value), allow_nan=False))


def render_json(report: Report) -> str:
    """The report as one JSON object (non-finite numbers become ``null``)."""
    out: list[str] = []
    _encode(report.to_dict_streaming(), 0, out)
    return "".join(out) + "\n"
