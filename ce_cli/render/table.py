"""The Rich table report: what was detected, the summary, per-class rows and calibration bins.

Returns text (with ANSI styles only when ``color`` is true); the caller decides where it goes.
Text that comes from the data (file, class and group names, ids) goes in as
:func:`~ce_cli.render.table_cells._data`: never parsed as Rich markup, control characters
escaped, so a file cannot style the report or send escape sequences to the terminal.
"""

from __future__ import annotations

import io
from typing import Any

from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from ce_cli.printable import printable
from ce_cli.render.table_calibration import _calibration, _diagram, _equal_mass, _murphy
from ce_cli.render.table_cells import _data, _num, _pct, _titled
from ce_cli.report.registry import BY_NAME, REPORT_METRICS
from ce_cli.report.report import Report

MAX_CLASS_ROWS = 25


def _loss_name(report: Report) -> str:
    s = report.settings
    parts = [s["loss"] if s["loss"] != "ce" else "cross-entropy"]
    if s["loss"] == "focal":
        parts.append(f"γ={s['gamma']:g}")
        if s.get("alpha") is not None:
            parts.append(f"α={s['alpha']:g}")
    if s["smoothing"]:
        parts.append(f"ε={s['smoothing']:g}")
    if report.class_weights is not None:
        parts.append("class-weighted")
    if report.detection.weight_column:
        parts.append("sample-weighted")
    return ", ".join(parts)


def _header(report: Report) -> Text:
    d = report.detection
    classes = ", ".join(map(printable, d.classes[:8])) + (", …" if len(d.classes) > 8 else "")
    kind = "logits" if d.logits else "probabilities"
    text = Text()
    text.append("ce-eval ", style="bold")
    text.append(printable(report.source), style="bold cyan")
    text.append("\n")
    task = d.task + (" (soft labels)" if d.soft_targets else "")
    text.append(f"{report.n_samples:,} rows · {task} · {len(d.classes)} classes ({classes})\n")
    columns = ", ".join(map(printable, d.prediction_columns[:8]))
    columns += ", …" if len(d.prediction_columns) > 8 else ""
    why = f" ({printable(d.columns_reason)})" if d.columns_reason else ""
    label = f"label '{printable(d.label_column)}' · " if d.label_column else ""
    text.append(f"columns: {label}predictions {columns}{why}\n")
    text.append(f"predictions: {kind} ({d.logits_reason}) · logs in {report.base}")
    notes = row_notes(report.counts, report.settings)
    if notes:
        text.append("\nrows: " + " · ".join(notes), style="yellow")
    return text


def row_notes(counts: dict[str, Any], settings: dict[str, Any]) -> list[str]:
    """Rows left out or changed, in words (shared with the Markdown report)."""
    notes = []
    ignored = int(counts.get("ignored_rows", 0) or 0)
    if ignored:
        label = settings.get("ignore_label")
        notes.append(
            f"{ignored:,} ignored (label {label})" if label is not None else f"{ignored:,} ignored"
        )
    dropped = int(counts.get("dropped_rows", 0) or 0)
    if dropped:
        notes.append(f"{dropped:,} dropped (missing, NaN or infinite values)")
    renormalized = int(counts.get("renormalized_rows", 0) or 0)
    if renormalized:
        notes.append(f"{renormalized:,} renormalised (divided by their sum)")
    clipped = int(counts.get("clipped_rows", 0) or 0)
    if clipped:
        notes.append(f"{clipped:,} clipped to [eps, 1-eps] for the log")
    return notes


def _summary(report: Report) -> Table:
    m = report.metrics
    intervals = report.extra.get("confidence_intervals", {})
    table = _titled("Summary")
    table.add_column("metric", no_wrap=True)
    table.add_column("value", justify="right", no_wrap=True)
    if intervals:
        level = next(iter(intervals.values()))["level"]
        table.add_column(f"{100 * level:g} % interval", justify="right", no_wrap=True)
    table.add_column("", style="dim")

    def row(name: Any, key: str, value: Any, note: str) -> None:
        cells = [name, value]
        if intervals:
            ci = intervals.get(key)
            fmt = _pct if key.endswith("accuracy") else (lambda v: _num(v, 4))
            cells.append("" if ci is None else f"[{fmt(ci['low'])}, {fmt(ci['high'])}]")
        table.add_row(*cells, note)

    for key in _layout(m):
        value = m[key]
        if value is None and key not in _ALWAYS_SHOWN:
            continue
        metric = BY_NAME.get(key)
        label: Any = key if metric is None else metric.label
        cell: Any = _pct(value) if key.endswith("accuracy") else _num(value)
        if key == "loss":
            label, cell = Text(label, style="bold"), Text(cell, style="bold")
        row(label, key, cell, _note(report, key))
    q = report.loss_quantiles
    quantiles = f"{_num(q['p50'], 4)} / {_num(q['p90'], 4)} / {_num(q['p99'], 4)}"
    row("loss quantiles", "", quantiles, "p50 / p90 / p99")
    return table


# The summary's order; a metric of the registry not named here follows, with its doc as note.
_LAYOUT = (
    "loss",
    "cross_entropy",
    "entropy",
    "label_entropy",
    "kl_divergence",
    "loss_per_label",
    "cross_entropy_per_label",
    "perplexity",
    "accuracy",
    "subset_accuracy",
    "brier",
    "ece",
    "mce",
    "rmsce",
    "rmsce_debiased",
    "ece_adaptive",
    "ece_classwise",
    "smece",
    "overconfidence",
    "brier_reliability",
    "brier_resolution",
    "brier_uncertainty",
    "temperature",
    "cross_entropy_calibration",
    "cross_entropy_refinement",
    "ece_after_temperature",
)
_ALWAYS_SHOWN = _LAYOUT[:13]
_NOTES = {
    "perplexity": "exp(cross-entropy in nats)",
    "subset_accuracy": "all labels right",
    "brier": "",
    "mce": "",
    "rmsce": "root-mean-square gap",
    "rmsce_debiased": "Kumar et al. 2019",
    "ece_adaptive": "equal-mass bins (fine histogram)",
    "ece_classwise": "mean over classes",
    "brier_reliability": "Murphy: lower is better",
    "brier_resolution": "higher is better",
    "brier_uncertainty": "of the outcomes alone",
    "ece_after_temperature": "",
}


def _layout(metrics: dict[str, Any]) -> list[str]:
    rest = [m.name for m in REPORT_METRICS if m.name not in _LAYOUT]
    return [key for key in (*_LAYOUT, *rest) if key in metrics]


def _note(report: Report, key: str) -> str:
    m = report.metrics
    if key == "loss":
        return _loss_name(report)
    if key == "accuracy":
        return "per label" if "subset_accuracy" in m else ""
    if key == "ece":
        return f"{report.calibration['n_bins']} equal-width bins"
    if key == "smece":
        return f"bandwidth σ* = {report.calibration['smooth']['bandwidth']:.4g}"
    if key == "overconfidence":
        return "mean conf. − accuracy: " + ("over" if m[key] > 0 else "under") + "confident"
    if key == "temperature":
        temperature = report.extra["temperature"]
        note = f"fitted in {temperature['passes']} passes over the input"
        if temperature.get("note"):
            note += "; " + temperature["note"]
        elif not temperature.get("converged", True):
            note += "; the search did not converge"
        return note
    metric = BY_NAME.get(key)
    if metric is not None and metric.log_units:
        return report.base
    return _NOTES.get(key, "" if metric is None else metric.doc)


def _gates(report: Report) -> Table | None:
    gates = report.extra.get("gates")
    if not gates:
        return None
    table = _titled("Gates")
    for column in ("metric", "rule", "value", "result"):
        table.add_column(column, justify="right" if column == "value" else "left")
    for g in gates:
        rule = f"{'≤' if g['op'] == 'max' else '≥'} {g['threshold']:g}"
        if g.get("bound") not in (None, "point"):
            rule += f" ({g['bound']})"
        result = Text("pass", style="green") if g["passed"] else Text("FAIL", style="bold red")
        table.add_row(_data(g["metric"]), rule, _num(g["value"]), result)
    return table


def _baseline(report: Report) -> Table | None:
    rows = report.extra.get("baseline")
    if not rows:
        return None
    table = _titled("Against the baseline")
    for column in ("metric", "old", "new", "delta", "allowed", "result"):
        table.add_column(column, justify="left" if column in ("metric", "result") else "right")
    for r in rows:
        if r["passed"] is None:
            result = Text("–", style="dim")
        else:
            result = (
                Text("ok", style="green") if r["passed"] else Text("REGRESSED", style="bold red")
            )
        delta = r.get("delta")
        table.add_row(
            _data(r["metric"]),
            _num(r.get("baseline")),
            _num(r.get("current")),
            "–" if delta is None else f"{delta:+.4g}",
            _num(r.get("allowed")),
            result,
        )
    return table


def _groups(report: Report) -> Table | None:
    groups = report.extra.get("groups")
    if not groups:
        return None
    table = _titled("Per group")
    for column in ("group", "rows", "loss", "cross-entropy", "accuracy", "Brier", "ECE"):
        table.add_column(column, justify="left" if column == "group" else "right")
    for g in groups[:MAX_CLASS_ROWS]:
        m = g["metrics"]
        table.add_row(
            _data(g["group"]),
            f"{g['n_samples']:,}",
            _num(m["loss"], 5),
            _num(m["cross_entropy"], 5),
            _pct(m["accuracy"]),
            _num(m["brier"], 4),
            _num(m["ece"], 4),
        )
    return table


MAX_CELL = 40  # characters of an id or class name shown in the worst rows


def _worst_lines(report: Report, color: bool) -> list[str]:
    """The worst rows as plain aligned text: laid out by hand, since Rich takes minutes over a
    table of 80,000 rows (--top 80000), and this takes a fraction of a second."""
    rows = report.extra.get("worst")
    if not rows:
        return []
    keys = [k for k in ("row", "id", "label", "predicted", "p_true", "loss") if k in rows[0]]
    right = {"row", "p_true", "loss"}

    def cell(value: object) -> str:
        if isinstance(value, float):
            return _num(value, 4)
        text = printable(value)
        return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"

    cells = [[cell(r[k]) for k in keys] for r in rows]
    widths = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(keys)]

    def line(values: list[str]) -> str:
        parts = [
            v.rjust(w) if k in right else v.ljust(w)
            for k, v, w in zip(keys, values, widths, strict=True)
        ]
        return ("  " + "  ".join(parts)).rstrip()

    title = f"Worst {len(rows):,} rows"
    out = ["", f"\x1b[1m{title}\x1b[0m" if color else title, line(keys)]
    out.append("  " + "  ".join("─" * w for w in widths))
    out += [line(c) for c in cells]
    return out


def _sequences(report: Report) -> Table | None:
    section = report.extra.get("sequences")
    if not section:
        return None
    ppl = section["perplexity"]
    title = (
        f"Per-sequence perplexity ({section['n_sequences']:,} sequences of '{section['column']}'"
    )
    if section["without_tokens"]:
        title += f"; {section['without_tokens']:,} without an evaluated token"
    table = _titled(title + ")")
    keys = ("mean", "token_weighted_mean", "p50", "p90", "p99", "min", "max")
    names = ("mean", "token-weighted", "p50", "p90", "p99", "min", "max")
    for name in names:
        table.add_column(name, justify="right")
    table.add_row(*(_num(ppl[k], 5) for k in keys))
    worst = section["worst"]
    if not worst:
        return table
    rows = _titled(f"Worst {len(worst)} sequences (highest perplexity)")
    for column in ("sequence", "rows", "tokens", "cross-entropy", "perplexity"):
        rows.add_column(column, justify="left" if column == "sequence" else "right")
    for s in worst:
        rows.add_row(
            _data(s["sequence"]),
            f"{s['first_row']:,}–{s['last_row']:,}",
            f"{s['tokens']:,}",
            _num(s["cross_entropy"], 5),
            _num(s["perplexity"], 5),
        )
    grid = Table.grid()
    grid.add_row(table)
    grid.add_row(rows)
    return grid


def _per_class(report: Report) -> Table:
    multilabel = report.detection.task == "multilabel"
    rows = report.per_class
    title = "Per label" if multilabel else "Per class"
    if len(rows) > MAX_CLASS_ROWS:
        title += f" (first {MAX_CLASS_ROWS} of {len(rows)}; all in --format json)"
    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", title_style="bold")
    table.add_column("label" if multilabel else "class")
    table.add_column("positives" if multilabel else "support", justify="right")
    table.add_column("loss", justify="right")
    table.add_column("accuracy", justify="right")
    table.add_column("mean q" if multilabel else "mean conf.", justify="right")
    table.add_column("mean p(true)", justify="right")
    table.add_column("predicted", justify="right")
    with_ece = any(row.get("ece") is not None for row in rows)
    if with_ece:
        table.add_column("ECE", justify="right")
    for row in rows[:MAX_CLASS_ROWS]:
        extra = [_num(row.get("ece"), 4)] if with_ece else []
        table.add_row(
            _data(row["class"]),
            f"{row['support']:,}",
            _num(row["loss"], 5),
            _pct(row["accuracy"]),
            _num(row["mean_confidence"], 4),
            _num(row["mean_true_prob"], 4),
            f"{row['predicted']:,.0f}",
            *extra,
        )
    return table


def _keep_numbers_whole(table: Table, console: Console) -> None:
    """On a narrow terminal Rich shrinks columns with an ellipsis; a number cut to ``0.0452…``
    reads as a different number. Right-justified (number) columns keep their widest cell, so
    the headers and the text columns give way, where the table still fits that way (else Rich
    would crop the last column, which is worse)."""
    before = [column.min_width for column in table.columns]
    for column in table.columns:
        if column.justify == "right":
            widths = [Text.from_markup(c).cell_len for c in column.cells if isinstance(c, str)]
            if any(widths):
                column.min_width = max(column.min_width or 0, *widths)
    probe = Console(file=io.StringIO(), width=console.width, no_color=True, emoji=False)
    with probe.capture() as captured:
        probe.print(table, crop=False)
    if any(Text(line.rstrip()).cell_len > console.width for line in captured.get().splitlines()):
        for column, width in zip(table.columns, before, strict=True):
            column.min_width = width


def render_table(report: Report, *, color: bool = False, width: int = 100) -> str:
    """The report as text tables (ANSI-styled when ``color``)."""
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        force_terminal=color,
        no_color=not color,
        width=width,
        highlight=False,
        emoji=False,
    )
    parts = [
        _header(report),
        Text(""),
        _summary(report),
        _gates(report),
        _baseline(report),
        _per_class(report),
        _groups(report),
        _sequences(report),
        _calibration(report),
        _diagram(report),
        _equal_mass(report),
        _murphy(report),
    ]
    for part in parts:
        if isinstance(part, Table):
            _keep_numbers_whole(part, console)
    console.print(Group(*(p for p in parts if p is not None)))
    lines = buffer.getvalue().splitlines()
    # Rich pads table lines to their width; piped text keeps no trailing spaces.
    lines = [line.rstrip() for line in lines]
    while lines and not lines[-1]:
        lines.pop()
    lines += _worst_lines(report, color)
    return "\n".join(lines) + "\n"
