"""The Rich table report: what was detected, the summary, per-class rows and calibration bins.

Returns text (with ANSI styles only when ``color`` is true); the caller decides where it goes.
"""

from __future__ import annotations

import io

from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from ce_cli.report import Report

MAX_CLASS_ROWS = 25
_LOG_NAMES = {
    "loss": "loss",
    "cross_entropy": "cross-entropy",
    "entropy": "entropy (predicted)",
    "label_entropy": "label entropy",
    "kl_divergence": "KL divergence",
}


def _num(value: float | None, digits: int = 6) -> str:
    if value is None:
        return "–"
    if value == 0:
        return "0"
    if abs(value) >= 1e6 or abs(value) < 1e-4:
        return f"{value:.{digits - 1}e}"
    return f"{value:.{digits}g}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.2f} %"


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
    classes = ", ".join(d.classes[:8]) + (", …" if len(d.classes) > 8 else "")
    kind = "logits" if d.logits else "probabilities"
    text = Text()
    text.append("ce-eval ", style="bold")
    text.append(report.source, style="bold cyan")
    text.append("\n")
    task = d.task + (" (soft labels)" if d.soft_targets else "")
    text.append(f"{report.n_samples:,} rows · {task} · {len(d.classes)} classes ({classes})\n")
    text.append(f"predictions: {kind} ({d.logits_reason}) · logs in {report.base}")
    clipped = int(report.counts.get("clipped_rows", 0))
    if clipped:
        text.append(f" · {clipped:,} rows clipped to [eps, 1-eps] for the log", style="yellow")
    return text


def _summary(report: Report) -> Table:
    m = report.metrics
    table = Table(title="Summary", box=box.SIMPLE_HEAD, title_justify="left", title_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("", style="dim")
    base = report.base
    table.add_row(
        Text("loss", style="bold"), Text(_num(m["loss"]), style="bold"), _loss_name(report)
    )
    for key in ("cross_entropy", "entropy", "label_entropy", "kl_divergence"):
        table.add_row(_LOG_NAMES[key], _num(m[key]), base)
    if "loss_per_label" in m:
        table.add_row("loss per label", _num(m["loss_per_label"]), base)
    table.add_row("perplexity", _num(m["perplexity"]), "exp(cross-entropy in nats)")
    table.add_row("accuracy", _pct(m["accuracy"]), "per label" if "subset_accuracy" in m else "")
    if "subset_accuracy" in m:
        table.add_row("subset accuracy", _pct(m["subset_accuracy"]), "all labels right")
    table.add_row("Brier score", _num(m["brier"]), "")
    n_bins = report.calibration["n_bins"]
    table.add_row("ECE", _num(m["ece"]), f"{n_bins} equal-width bins")
    table.add_row("MCE", _num(m["mce"]), "")
    q = report.loss_quantiles
    table.add_row(
        "loss quantiles",
        f"{_num(q['p50'], 4)} / {_num(q['p90'], 4)} / {_num(q['p99'], 4)}",
        "p50 / p90 / p99",
    )
    return table


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
    for row in rows[:MAX_CLASS_ROWS]:
        table.add_row(
            str(row["class"]),
            f"{row['support']:,}",
            _num(row["loss"], 5),
            _pct(row["accuracy"]),
            _num(row["mean_confidence"], 4),
            _num(row["mean_true_prob"], 4),
            f"{row['predicted']:,.0f}",
        )
    return table


def _calibration(report: Report) -> Table:
    cal = report.calibration
    table = Table(
        title=f"Calibration ({cal['n_bins']} bins)",
        box=box.SIMPLE_HEAD,
        title_justify="left",
        title_style="bold",
    )
    table.add_column("confidence bin")
    table.add_column("count", justify="right")
    table.add_column("mean conf.", justify="right")
    table.add_column("accuracy", justify="right")
    table.add_column("gap", justify="right")
    table.add_column("", no_wrap=True)
    for b in cal["bins"]:
        if not b["count"]:
            continue
        gap = b["gap"] or 0.0
        bar = "█" * max(1, round(gap * 40)) if gap > 0 else ""
        over = (b["confidence"] or 0) > (b["accuracy"] or 0)
        table.add_row(
            f"[{b['lower']:.3f}, {b['upper']:.3f}{']' if b['upper'] == 1.0 else ')'}",
            f"{b['count']:,}",
            _num(b["confidence"], 4),
            _num(b["accuracy"], 4),
            _num(gap, 3),
            Text(bar, style="red" if over else "blue"),
        )
    return table


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
    console.print(
        Group(_header(report), Text(""), _summary(report), _per_class(report), _calibration(report))
    )
    return buffer.getvalue()
