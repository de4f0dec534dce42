"""The HTML report's building blocks: the page (with its inline CSS), numbers and percentages as
text, text from the data escaped, tables, metric notes and the "first N of M" line."""

from __future__ import annotations

import math
import re
from html import escape
from typing import Any

from ce_cli.printable import printable
from ce_cli.report.registry import BY_NAME

_PERCENT = re.compile(r"(^|_)accuracy$")


_CSS = """
:root{--bg:#fff;--fg:#1b1f24;--muted:#59636e;--grid:#e4e7eb;--line:#d0d7de;--panel:#f6f8fa;
--s0:#1f6feb;--s1:#d1242f;--s2:#1a7f37;--s3:#8250df;--ok:#1a7f37;--bad:#cf222e;
--okbg:#dafbe1;--badbg:#ffebe9;color-scheme:light dark}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#9198a1;
--grid:#262c36;--line:#3d444d;--panel:#151b23;--s0:#4493f8;--s1:#ff7b72;--s2:#3fb950;
--s3:#bc8cff;--ok:#3fb950;--bad:#ff7b72;--okbg:#12261e;--badbg:#2d1214}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.5 system-ui,-apple-system,
"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1100px;margin:0 auto;padding:24px 28px 48px}
h1{font-size:1.5em;margin:0 0 4px;overflow-wrap:anywhere}
h2{font-size:1.15em;margin:32px 0 10px;padding-bottom:4px;border-bottom:1px solid var(--line)}
h3{font-size:1em;margin:18px 0 6px}
.sub{color:var(--muted);margin:0}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.92em}
table{border-collapse:collapse;margin:6px 0 12px;font-variant-numeric:tabular-nums}
th,td{padding:4px 12px 4px 0;border-bottom:1px solid var(--grid);text-align:left;
vertical-align:top}
th{font-weight:600;color:var(--muted);border-bottom-color:var(--line)}
td.n,th.n{text-align:right}
td.note{color:var(--muted)}
.wide{overflow-x:auto}
.row{display:flex;flex-wrap:wrap;gap:28px;align-items:flex-start}
.row>div{min-width:0;flex:0 0 auto}.row>div.side{flex:1 1 300px}
.banner{padding:10px 14px;border-radius:6px;margin:16px 0;font-weight:600}
.banner.ok{background:var(--okbg);color:var(--ok)}
.banner.bad{background:var(--badbg);color:var(--bad)}
.pass{color:var(--ok);font-weight:600}.fail{color:var(--bad);font-weight:600}
dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:6px 0}
dl.kv dt{color:var(--muted)}dl.kv dd{margin:0;overflow-wrap:anywhere}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:14px 0}
.card{background:var(--panel);border:1px solid var(--line);border-radius:6px;padding:8px 14px;
min-width:130px}
.card.ok{border-color:var(--ok);border-left-width:4px}
.card.bad{border-color:var(--bad);border-left-width:4px}.card.bad .v{color:var(--bad)}
.card .v{font-size:1.3em;font-weight:600;font-variant-numeric:tabular-nums}
.card .k{color:var(--muted);font-size:.85em}
svg.figure{max-width:100%;height:auto;font-family:inherit;overflow:visible}
svg text{fill:var(--fg);font-size:11px}
svg text.tick,svg text.note{fill:var(--muted)}
svg text.axis{font-size:12px}
svg .grid{stroke:var(--grid);stroke-width:1}
svg .frame{fill:none;stroke:var(--line);stroke-width:1}
svg .diagonal{stroke:var(--muted);stroke-width:1;stroke-dasharray:4 4}
svg .marker{stroke:var(--muted);stroke-width:1;stroke-dasharray:2 3}
svg .point{fill-opacity:.55;stroke-width:1.2}
svg .gap{stroke-width:1.5;stroke-opacity:.45}
svg .binline{fill:none;stroke-width:1;stroke-opacity:.5}
svg .smooth{fill:none;stroke-width:2.4}
svg .smooth-thin{fill:none;stroke-width:1;stroke-dasharray:3 2;stroke-opacity:.7}
svg .bar{stroke:none;fill-opacity:.8}
svg .s0{fill:var(--s0);stroke:var(--s0)}svg .s1{fill:var(--s1);stroke:var(--s1)}
svg .s2{fill:var(--s2);stroke:var(--s2)}svg .s3{fill:var(--s3);stroke:var(--s3)}
svg .smooth.s0,svg .smooth.s1,svg .smooth.s2,svg .smooth.s3,svg .binline{fill:none}
svg .smooth-thin.s0,svg .smooth-thin.s1,svg .smooth-thin.s2,svg .smooth-thin.s3{fill:none}
footer{margin-top:40px;color:var(--muted);font-size:.85em}
@media print{:root{--bg:#fff;--fg:#000;--muted:#444;--grid:#ddd;--line:#999;--panel:#fff;
--okbg:#fff;--badbg:#fff}body{font-size:11pt}main{max-width:none;padding:0}
h2,h3{break-after:avoid}table,tr,svg,.card,.banner{break-inside:avoid}
.banner{border:1px solid currentColor}.wide{overflow:visible}}
"""


def _num(value: Any, digits: int = 6) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "–"
        if value == 0:
            return "0"
        if abs(value) >= 1e6 or abs(value) < 1e-4:
            return f"{value:.{digits - 1}e}"
        return f"{value:.{digits}g}"
    return str(value)


def _value(name: str, value: Any) -> str:
    if _PERCENT.search(name) and isinstance(value, int | float) and value is not None:
        return f"{100 * value:.2f} %"
    return _num(value)


def _e(text: Any) -> str:
    """Text from the data: control characters shown escaped, then HTML-escaped."""
    return escape(printable(text))


def _table(header: list[str], rows: list[list[Any]], numeric: set[int] | None = None) -> str:
    """A table; cells are already HTML. ``numeric`` lists right-aligned columns."""
    numeric = numeric or set()

    def cls(i: int) -> str:
        return ' class="n"' if i in numeric else ""

    head = "".join(f"<th{cls(i)}>{h}</th>" for i, h in enumerate(header))
    body = "".join(
        "<tr>" + "".join(f"<td{cls(i)}>{c}</td>" for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return f'<div class="wide">{table}</div>'


def _note(metric: str) -> str:
    declared = BY_NAME.get(metric)
    return f'<span class="note">{escape("" if declared is None else declared.doc)}</span>'


def _generic_table(rows: list[dict[str, Any]], *, percent: bool = True) -> str:
    """A list of flat dicts as a table, columns in first-seen order; nested values skipped.
    ``percent``: accuracies as percentages (as in the summary) rather than fractions."""
    keys: list[str] = []
    for row in rows:
        for key, value in row.items():
            if key not in keys and not isinstance(value, dict | list):
                keys.append(key)
    numeric = {
        i
        for i, k in enumerate(keys)
        if all(isinstance(r.get(k), int | float | type(None)) for r in rows)
    }
    body = [
        [
            (str(r.get(k)) if k == "row" and r.get(k) is not None else None)
            or (_value(k, r.get(k)) if percent else _num(r.get(k)))
            if i in numeric
            else _e(r.get(k, ""))
            for i, k in enumerate(keys)
        ]
        for r in rows
    ]
    return _table([_e(k) for k in keys], body, numeric)


def _more(shown: int, total: int, what: str) -> str:
    if total <= shown:
        return ""
    return f'<p class="sub">First {shown:,} of {total:,} {what}; all in --format json.</p>'


def _page(title: str, body: str, footer: str) -> str:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta name="color-scheme" content="light dark">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head>"
        f"<body><main>{body}<footer>{footer}</footer></main></body></html>\n"
    )
