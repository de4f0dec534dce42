"""The table report's calibration sections: the bins with a bar for conf − acc, the Brier score
decomposed (Murphy), equal-mass bins, and the text reliability diagram."""

from __future__ import annotations

import math

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from ce_cli.render.table_cells import _num, _titled
from ce_cli.report.report import Report

GAP_PER_BLOCK = 0.05  # the bar's scale: one block per 0.05 of |conf − acc|, at most 6


def _gap_bar(signed: float) -> Text:
    """``conf − acc`` as a bar either side of ``│``: right overconfident, left underconfident;
    a gap beyond the six blocks ends in an arrow."""
    half = 6
    blocks = math.ceil(abs(signed) / GAP_PER_BLOCK - 1e-9) if signed else 0
    bar_text = "█" * min(blocks, half)
    if blocks > half:
        bar_text = bar_text[:-1] + ("▶" if signed > 0 else "◀")
    if signed > 0:
        bar = Text(" " * half + "│")
        bar.append(bar_text + " " * (half - len(bar_text)), style="red")
        return bar
    bar = Text(" " * (half - len(bar_text)))
    bar.append(bar_text[::-1], style="blue")
    return bar.append("│" + " " * half)


def _calibration(report: Report) -> Table:
    cal = report.calibration
    table = Table(
        title=f"Calibration ({cal['n_bins']} bins; conf − acc > 0: overconfident; "
        f"█ = {GAP_PER_BLOCK:g})",
        box=box.SIMPLE_HEAD,
        title_justify="left",
        title_style="bold",
    )
    table.add_column("confidence bin", no_wrap=True)
    table.add_column("count", justify="right", no_wrap=True)
    table.add_column("mean conf.", justify="right", no_wrap=True)
    table.add_column("accuracy", justify="right", no_wrap=True)
    table.add_column("conf − acc", justify="right", no_wrap=True)
    table.add_column("under│over", no_wrap=True, overflow="ignore")
    filled = [b for b in cal["bins"] if b["count"] and b["confidence"] is not None]
    signed = [(b["confidence"] or 0.0) - (b["accuracy"] or 0.0) for b in filled]
    for b, gap in zip(filled, signed, strict=True):
        table.add_row(
            f"[{b['lower']:.3f}, {b['upper']:.3f}{']' if b['upper'] == 1.0 else ')'}",
            f"{b['count']:,}",
            _num(b["confidence"], 4),
            _num(b["accuracy"], 4),
            f"{gap:+.3f}",
            _gap_bar(gap),
        )
    return table


def _murphy(report: Report) -> Table | None:
    parts = report.calibration.get("brier_decomposition")
    if not parts:
        return None
    table = _titled(f"Brier score, decomposed ({parts['view']})")
    table.add_column("part")
    table.add_column("value", justify="right")
    table.add_column("", style="dim")
    sign = (
        ("reliability", "+", "REL: miscalibration (Murphy 1973)"),
        ("resolution", "−", "RES: how far bins' outcomes spread from the base rate"),
        ("uncertainty", "+", "UNC: ȳ(1 − ȳ), the outcomes alone"),
        ("within_bin_variance", "+", "WBV (Stephenson et al. 2008)"),
        ("within_bin_covariance", "+", "WBC (Stephenson et al. 2008)"),
        ("target_variance", "+", "−Σ o(1 − o)/W: soft targets' own spread"),
    )
    for key, op, note in sign:
        table.add_row(f"{op} {key.replace('_', ' ')}", _num(parts[key], 6), note)
    table.add_row("= Brier score", _num(report.metrics["brier"], 6), "")
    return table


def _equal_mass(report: Report) -> Table | None:
    bins = report.calibration.get("equal_mass_bins")
    if not bins:
        return None
    table = _titled(f"Equal-mass bins ({len(bins)})")
    for column in ("confidence range", "weight", "mean conf.", "accuracy", "conf. − acc."):
        table.add_column(column, justify="left" if column == "confidence range" else "right")
    for b in bins:
        if not b["weight"]:
            continue
        table.add_row(
            f"[{b['lower']:.4f}, {b['upper']:.4f}]",
            f"{b['weight']:,.6g}",
            _num(b["confidence"], 4),
            _num(b["accuracy"], 4),
            f"{b['signed_gap']:+.4f}",
        )
    return table


def _diagram(report: Report) -> Group:
    from ce_cli.render.diagram import reliability_text

    title = Text("Reliability diagram", style="bold")
    title.append(": accuracy (up) against mean confidence (across), per bin", style="")
    return Group(title, reliability_text(report.calibration), Text(""))
