"""The report as one self-contained HTML page (``--format html``): a CI artefact to open anywhere.

Inline CSS and inline SVG drawn by :mod:`ce_cli.render.svg`; no script, no font, no image and
no link to anything outside the page, so it renders the same offline, in a sandboxed artefact
viewer or printed. Dark mode follows the browser (``prefers-color-scheme``); ``@media print``
keeps it black on white and keeps figures and table rows from splitting across pages.

Sections are drawn from whatever the report holds: every key of ``metrics`` (new estimators
appear without a change here), the calibration bins and, when present, the smooth curve
(``calibration.smooth``) and equal-mass bins, gates, baseline deltas, intervals, groups and
the worst rows. Every piece of text from the data goes through :func:`html.escape`.
"""

from __future__ import annotations

import re
from html import escape
from typing import Any

from ce_cli.printable import printable
from ce_cli.render.html_kit import _e, _generic_table, _more, _note, _num, _page, _table, _value
from ce_cli.render.svg import Series, bars_svg, histogram_svg, reliability_svg

MAX_TABLE_ROWS = 200
MAX_BARS = 30

# Metrics that measure calibration (shown again, described, in the calibration section).
_CALIBRATION = re.compile(
    r"^(ece|mce|rmsce|smece|overconfidence|brier_|temperature|cross_entropy_calibration"
    r"|cross_entropy_refinement)"
)


def _header(report: dict[str, Any]) -> str:
    d = report.get("detected", {})
    classes = d.get("classes", [])
    shown = ", ".join(_e(c) for c in classes[:12]) + (", …" if len(classes) > 12 else "")
    task = _e(d.get("task", "")) + (" (soft labels)" if d.get("soft_targets") else "")
    return (
        f'<header><h1>ce-eval: <span class="mono">{_e(report.get("source", ""))}</span></h1>'
        f'<p class="sub">{_num(report.get("n_samples"))} rows · {task} · '
        f"{_num(d.get('n_classes'))} {'labels' if d.get('task') == 'multilabel' else 'classes'} "
        f"({shown}) · {_e(d.get('predictions', ''))} · "
        f"logs in {_e(report.get('base', ''))}</p></header>"
    )


def _banner(report: dict[str, Any]) -> str:
    gates = report.get("gates") or []
    regressions = [r for r in report.get("baseline") or [] if r.get("passed") is False]
    if not gates and not report.get("baseline"):
        return ""
    failed = [g for g in gates if not g.get("passed")]
    if not failed and not regressions:
        parts = []
        if gates:
            parts.append(f"all {len(gates)} gate{'s' if len(gates) != 1 else ''} passed")
        if report.get("baseline"):
            parts.append("no regression against the baseline")
        return f'<div class="banner ok">✔ {"; ".join(parts).capitalize()}</div>'
    parts = []
    if failed:
        parts.append(f"{len(failed)} of {len(gates)} gates failed")
    if regressions:
        parts.append(f"{len(regressions)} regression{'s' if len(regressions) != 1 else ''}")
    return f'<div class="banner bad">✘ {"; ".join(parts).capitalize()}</div>'


def _cards(report: dict[str, Any]) -> str:
    """Headline numbers; a gated metric's card carries its rule and is green or red."""
    m = report.get("metrics", {})
    gates: dict[str, list[dict[str, Any]]] = {}
    for g in report.get("gates") or []:
        gates.setdefault(str(g.get("metric")), []).append(g)
    picks = [k for k in ("loss", "cross_entropy", "accuracy", "brier", "ece", "smece") if k in m]
    picks += [k for k in gates if k not in picks]
    cards = []
    for k in picks:
        value = m.get(k)
        if value is None and k.startswith("loss_"):  # loss_p90 and the like: the quantiles
            value = (report.get("loss_quantiles") or {}).get(k[len("loss_") :])
        rules = gates.get(k, [])
        state = "" if not rules else " ok" if all(g.get("passed") for g in rules) else " bad"
        rule = " ".join(
            f"{'≤' if g.get('op') == 'max' else '≥'} {_num(g.get('threshold'))}" for g in rules
        )
        note = f" · {escape(rule)}" if rule else ""
        cards.append(
            f'<div class="card{state}"><div class="v">{_value(k, value)}</div>'
            f'<div class="k">{_e(k)}{note}</div></div>'
        )
    return f'<div class="cards">{"".join(cards)}</div>'


def _summary(report: dict[str, Any]) -> str:
    metrics = report.get("metrics", {})
    intervals = report.get("confidence_intervals") or {}
    header = ["metric", "value"]
    numeric = {1}
    if intervals:
        level = next(iter(intervals.values())).get("level")
        header.append(f"{_num(100 * level if level else None)} % interval")
        numeric.add(2)
    header.append("")
    rows = []
    for name, value in metrics.items():
        row = [f"<code>{_e(name)}</code>", _value(name, value)]
        if intervals:
            ci = intervals.get(name)
            row.append(
                ""
                if ci is None
                else f"[{_value(name, ci.get('low'))}, {_value(name, ci.get('high'))}]"
            )
        row.append(_note(name))
        rows.append(row)
    q = report.get("loss_quantiles") or {}
    for key in ("p50", "p90", "p99", "min", "max"):
        if key in q:
            name = f"loss_{key}"
            row = [f"<code>{name}</code>", _num(q[key])]
            if intervals:
                ci = intervals.get(name)
                row.append("" if ci is None else f"[{_num(ci.get('low'))}, {_num(ci.get('high'))}]")
            row.append('<span class="note">per-sample loss quantile</span>')
            rows.append(row)
    return "<section><h2>Summary</h2>" + _table(header, rows, numeric) + "</section>"


def _gates(report: dict[str, Any]) -> str:
    gates = report.get("gates") or []
    baseline = report.get("baseline") or []
    if not gates and not baseline:
        return ""
    out = ["<section><h2>Gates</h2>"]
    if gates:
        rows = []
        for g in gates:
            rule = f"{'≤' if g.get('op') == 'max' else '≥'} {_num(g.get('threshold'))}"
            if g.get("bound") not in (None, "point"):
                rule += f" ({_e(g['bound'])})"
            verdict = (
                '<span class="pass">pass</span>'
                if g.get("passed")
                else '<span class="fail">FAIL</span>'
            )
            rows.append(
                [f"<code>{_e(g.get('metric'))}</code>", rule, _num(g.get("value")), verdict]
            )
        out.append(_table(["metric", "rule", "value", "result"], rows, {2}))
    if baseline:
        out.append("<h3>Against the baseline</h3>")
        rows = []
        for r in baseline:
            passed = r.get("passed")
            verdict = (
                '<span class="note">–</span>'
                if passed is None
                else '<span class="pass">ok</span>'
                if passed
                else '<span class="fail">REGRESSED</span>'
            )
            delta = r.get("delta")
            rows.append(
                [
                    f"<code>{_e(r.get('metric'))}</code>",
                    _num(r.get("baseline")),
                    _num(r.get("current")),
                    "–" if delta is None else f"{delta:+.4g}",
                    _num(r.get("allowed")),
                    verdict,
                ]
            )
        out.append(
            _table(["metric", "baseline", "current", "Δ", "allowed", "result"], rows, {1, 2, 3, 4})
        )
    out.append("</section>")
    return "".join(out)


def _detected(report: dict[str, Any]) -> str:
    d = report.get("detected", {})
    columns = d.get("columns", {})
    items: list[tuple[str, str]] = [
        ("task", _e(d.get("task", ""))),
        ("predictions", f"{_e(d.get('predictions', ''))} ({_e(d.get('predictions_reason', ''))})"),
    ]
    for key, value in columns.items():
        if value in (None, [], ""):
            continue
        text = ", ".join(_e(v) for v in value) if isinstance(value, list) else _e(value)
        items.append((f"{key} column{'s' if isinstance(value, list) else ''}", text))
    settings = report.get("settings", {})
    shown = ", ".join(
        f"{_e(k)}={_e(v)}" for k, v in settings.items() if v not in (None, False, "", [])
    )
    if shown:
        items.append(("settings", f'<span class="mono">{shown}</span>'))
    if report.get("class_weights") is not None:
        items.append(("class weights", ", ".join(_num(w) for w in report["class_weights"])))
    counts = report.get("counts", {})
    noted = ", ".join(
        f"{_e(k.replace('_', ' '))}: {_num(v)}" for k, v in counts.items() if v and k != "rows"
    )
    if noted:
        items.append(("counts", noted))
    tool = report.get("tool") or {}
    if tool:
        items.append(("ce-eval", _e(tool.get("version", ""))))
    body = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in items)
    return f'<section><h2>What was detected</h2><dl class="kv">{body}</dl></section>'


def _per_class(report: dict[str, Any]) -> str:
    rows = report.get("per_class") or []
    if not rows:
        return ""
    multilabel = report.get("detected", {}).get("task") == "multilabel"
    what = "label" if multilabel else "class"
    unit = str(report.get("base", ""))
    # Numbers a row carries beyond the usual ones (cross-entropy, a per-class ECE…) follow.
    shown = {"class", "support", "weight", "loss", "accuracy", "mean_confidence"}
    shown |= {"mean_true_prob", "predicted"}
    extra: list[str] = []
    for r in rows:
        for key, value in r.items():
            if key not in shown and key not in extra and isinstance(value, int | float | None):
                extra.append(key)
    table_rows = [
        [
            _e(r.get("class")),
            _num(r.get("support")),
            _num(r.get("loss"), 5),
            _value("accuracy", r.get("accuracy")),
            _num(r.get("mean_confidence"), 4),
            _num(r.get("mean_true_prob"), 4),
            _num(r.get("predicted")),
            *(_value(k, r.get(k)) for k in extra),
        ]
        for r in rows[:MAX_TABLE_ROWS]
    ]
    header = [
        what,
        "positives" if multilabel else "support",
        "loss",
        "accuracy",
        "mean q" if multilabel else "mean confidence",
        "mean p(true)",
        "predicted",
        *(_e(k.replace("_", " ")) for k in extra),
    ]
    ranked = sorted(rows, key=lambda r: -(r.get("loss") if r.get("loss") is not None else -1))
    bars = bars_svg(
        [(printable(r.get("class")), r.get("loss")) for r in ranked[:MAX_BARS]],
        unit=unit,
        title=f"Loss per {what}",
    )
    caption = f"Loss per {what}" + (
        f", the {MAX_BARS} highest of {len(rows)}" if len(rows) > MAX_BARS else ", highest first"
    )
    return (
        f"<section><h2>Per {what}</h2>"
        + _table(header, table_rows, set(range(1, len(header))))
        + _more(MAX_TABLE_ROWS, len(rows), f"{what}es" if what == "class" else "labels")
        + f"<h3>{caption}</h3>{bars}</section>"
    )


def _calibration(report: dict[str, Any]) -> str:
    cal = report.get("calibration") or {}
    bins = cal.get("bins") or []
    metrics = report.get("metrics", {})
    estimators = [(k, v) for k, v in metrics.items() if _CALIBRATION.match(k)]
    figure = reliability_svg(
        [Series("model", bins, cal.get("smooth") if isinstance(cal.get("smooth"), dict) else None)]
    )
    rows = [[f"<code>{_e(k)}</code>", _value(k, v), _note(k)] for k, v in estimators]

    # Numbers the calibration section carries besides its bins, one level deep (e.g. the
    # Brier decomposition's parts, a bandwidth, stated resolutions), whatever their names.
    def number(value: Any) -> bool:
        return isinstance(value, int | float) and not isinstance(value, bool)

    more = []
    for key, value in cal.items():
        if number(value) and key != "n_bins":
            more.append([f"<code>{_e(key)}</code>", _num(value)])
        elif isinstance(value, dict):
            for inner, item in value.items():
                if number(item):
                    more.append([f"<code>{_e(key)}.{_e(inner)}</code>", _num(item)])
    side = "<h3>Estimators</h3>" + _table(["estimator", "value", ""], rows, {1})
    if more:
        side += "<h3>More from the calibration section</h3>" + _table(["key", "value"], more, {1})
    filled = [b for b in bins if b.get("count")]
    bin_rows = []
    for b in filled:
        conf, acc = b.get("confidence"), b.get("accuracy")
        signed = None if conf is None or acc is None else conf - acc
        close = "]" if b.get("upper") == 1.0 else ")"
        bin_rows.append(
            [
                f"[{b['lower']:.3f}, {b['upper']:.3f}{close}",
                _num(b.get("count")),
                _num(b.get("weight")),
                _num(conf, 4),
                _num(acc, 4),
                "–" if signed is None else f"{signed:+.4f}",
            ]
        )
    bins_table = f"<h3>{_num(cal.get('n_bins'))} equal-width bins (non-empty)</h3>" + _table(
        ["bin", "count", "weight", "confidence", "accuracy", "conf − acc"],
        bin_rows,
        {1, 2, 3, 4, 5},
    )
    extra = ""
    equal_mass = cal.get("equal_mass_bins")
    if isinstance(equal_mass, list) and equal_mass and isinstance(equal_mass[0], dict):
        extra = "<h3>Equal-mass bins</h3>" + _generic_table(equal_mass, percent=False)
    return (
        "<section><h2>Calibration</h2>"
        f'<div class="row"><div>{figure}</div><div class="side">{side}</div></div>'
        f"{bins_table}{extra}</section>"
    )


def _loss_distribution(report: dict[str, Any]) -> str:
    hist = report.get("loss_histogram")
    if not isinstance(hist, dict) or not hist.get("weight"):
        return ""
    q = report.get("loss_quantiles") or {}
    markers = [(name, q[name]) for name in ("p50", "p90", "p99") if q.get(name) is not None]
    figure = histogram_svg(
        hist["edges"], hist["weight"], unit=str(report.get("base", "")), markers=markers
    )
    note = (
        f'<p class="sub">Share of the sample weight per bin, {_num(hist.get("bins_per_decade"))} '
        "bins a decade; dotted lines: quantiles.</p>"
    )
    return f"<section><h2>Distribution of the per-sample loss</h2>{figure}{note}</section>"


def _groups(report: dict[str, Any]) -> str:
    groups = report.get("groups") or []
    if not groups:
        return ""
    keys: list[str] = []
    for g in groups:
        for k in g.get("metrics", {}):
            if k not in keys:
                keys.append(k)
    rows = [
        [_e(g.get("group")), _num(g.get("n_samples"))]
        + [_value(k, g.get("metrics", {}).get(k)) for k in keys]
        for g in groups[:MAX_TABLE_ROWS]
    ]
    header = ["group", "rows", *(f"<code>{_e(k)}</code>" for k in keys)]
    return (
        "<section><h2>Per group</h2>"
        + _table(header, rows, set(range(1, len(header))))
        + _more(MAX_TABLE_ROWS, len(groups), "groups")
        + "</section>"
    )


def _worst(report: dict[str, Any]) -> str:
    rows = report.get("worst") or []
    if not rows:
        return ""
    return f"<section><h2>Worst {len(rows)} rows</h2>{_generic_table(rows)}</section>"


def render_compare_html(result: dict[str, Any]) -> str:
    """The page for ``ce-eval compare``: both models on one reliability diagram, and each
    metric's means, paired difference, interval and verdict."""
    a, b = printable(result.get("a", "A")), printable(result.get("b", "B"))
    level = result.get("level")
    rows = []
    for name, m in (result.get("metrics") or {}).items():
        verdict = str(m.get("verdict", ""))
        cls = "pass" if verdict == "A better" else "fail" if verdict == "B better" else "note"
        low, high = m.get("low"), m.get("high")
        interval = "–" if low is None or high is None else f"[{low:+.4g}, {high:+.4g}]"
        difference = m.get("difference")
        rows.append(
            [
                f"<code>{_e(name)}</code>",
                _value(name, m.get("a")),
                _value(name, m.get("b")),
                "–" if difference is None else f"{difference:+.4g}",
                interval,
                f'<span class="{cls}">{escape(verdict)}</span>',
            ]
        )
    label = "interval" if level is None else f"{_num(100 * level)} % interval"
    table = _table(["metric", "A", "B", "A − B", label, "verdict"], rows, {1, 2, 3, 4})
    cal = result.get("calibration") or {}
    series = [
        Series(
            f"A = {a}", (cal.get("a") or {}).get("bins") or [], (cal.get("a") or {}).get("smooth")
        ),
        Series(
            f"B = {b}", (cal.get("b") or {}).get("bins") or [], (cal.get("b") or {}).get("smooth")
        ),
    ]
    body = (
        f'<header><h1>ce-eval compare</h1><p class="sub">A = <span class="mono">{escape(a)}'
        f'</span> · B = <span class="mono">{escape(b)}</span> · '
        f"{_num(result.get('n_samples'))} rows paired by {_e(result.get('paired_by', ''))} · "
        f"{_num(result.get('replicates'))} bootstrap replicates · logs in "
        f"{_e(result.get('base', ''))}</p></header>"
        f"<section><h2>Paired differences</h2>{table}</section>"
        f"<section><h2>Calibration</h2>{reliability_svg(series, title='A and B')}</section>"
    )
    return _page(f"ce-eval compare: {a} vs {b}", body, "ce-eval compare")


def render_html(report: dict[str, Any]) -> str:
    """The page for a report dict (as :meth:`~ce_cli.report.report.Report.to_dict` gives, cleaned of
    non-finite numbers)."""
    title = f"ce-eval: {printable(report.get('source', ''))}"
    body = "".join(
        [
            _header(report),
            _banner(report),
            _cards(report),
            _summary(report),
            _gates(report),
            _detected(report),
            _per_class(report),
            _calibration(report),
            _loss_distribution(report),
            _groups(report),
            _worst(report),
        ]
    )
    version = escape(str((report.get("tool") or {}).get("version", "")))
    footer = f"ce-eval {version} · schema version {_num(report.get('schema_version'))}"
    return _page(title, body, footer)
