"""Inline SVG figures drawn by ce-eval itself (no matplotlib): the HTML report's pictures.

Each function takes sections of the report (plain dicts and lists) and returns one ``<svg>``
element as text. Colours are CSS variables (``--fg``, ``--muted``, ``--grid``, ``--s0``,
``--s1``…) set by the page, so a dark-mode or printed page recolours the figures too. Every
piece of text that comes from the data is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

# Reliability diagram geometry (SVG user units).
_LEFT, _TOP, _SIDE = 58.0, 14.0, 420.0
_GAP, _HIST = 62.0, 80.0
_RIGHT = 22.0


@dataclass(frozen=True)
class Series:
    """One model's calibration on a reliability diagram."""

    name: str
    bins: Sequence[dict[str, Any]]
    smooth: dict[str, Any] | None = None


def shorten(text: str, limit: int = 48) -> str:
    """``text`` cut in the middle to at most ``limit`` characters (paths keep both ends).

    >>> shorten("runs/2024-06-01/model_a/predictions.parquet", 30)
    'runs/2024-06-0…ictions.parquet'
    """
    if len(text) <= limit:
        return text
    head = (limit - 1) // 2
    return text[:head] + "…" + text[len(text) - (limit - 1 - head) :]


def _f(x: float) -> str:
    """A coordinate: one decimal, no ``-0.0``."""
    text = f"{x:.1f}"
    return "0.0" if text == "-0.0" else text


def _tick(value: float) -> str:
    return f"{value:g}"


def _open(width: float, height: float, label: str) -> str:
    return (
        f'<svg class="figure" role="img" '
        f'viewBox="0 0 {_f(width)} {_f(height)}" width="{_f(width)}" height="{_f(height)}" '
        f'aria-label="{escape(label)}">'
    )


def _text(x: float, y: float, text: str, cls: str = "", anchor: str = "middle") -> str:
    klass = f' class="{cls}"' if cls else ""
    return f'<text x="{_f(x)}" y="{_f(y)}" text-anchor="{anchor}"{klass}>{escape(str(text))}</text>'


def _filled(bins: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        b
        for b in bins
        if b.get("weight") and b.get("confidence") is not None and b.get("accuracy") is not None
    ]


SPARSE = 0.02  # the smooth curve is drawn thin where the density is below this share of its peak


def smooth_runs(
    smooth: dict[str, Any], *, dense_only: bool = False
) -> list[list[tuple[float, float]]]:
    """The smooth curve as runs of (confidence, accuracy), broken where a value is missing
    (and, with ``dense_only``, where the confidences are sparse: as relplot draws it thin)."""
    grid = smooth.get("grid") or []
    accuracy = smooth.get("accuracy") or []
    density = smooth.get("density") or []
    finite = [d for d in density if isinstance(d, int | float) and math.isfinite(d)]
    floor = SPARSE * max(finite) if dense_only and finite else None
    runs: list[list[tuple[float, float]]] = [[]]
    for i, (x, y) in enumerate(zip(grid, accuracy, strict=False)):
        sparse = floor is not None and (
            i >= len(density) or not isinstance(density[i], int | float) or density[i] < floor
        )
        if x is None or y is None or not (math.isfinite(x) and math.isfinite(y)) or sparse:
            if runs[-1]:
                runs.append([])
            continue
        runs[-1].append((min(max(float(x), 0.0), 1.0), min(max(float(y), 0.0), 1.0)))
    return [run for run in runs if len(run) >= 2]


def reliability_svg(series: Sequence[Series], *, title: str = "Reliability diagram") -> str:
    """Accuracy against confidence per bin: the diagonal, each bin's point (area ∝ its weight)
    joined to the diagonal by its gap, the smooth curve where the report has one, and the
    confidence histogram beneath (share of the weight per bin)."""
    width = _LEFT + _SIDE + _RIGHT
    legend_rows = len(series) + sum(1 for s in series if s.smooth)
    hist_top = _TOP + _SIDE + _GAP
    height = hist_top + _HIST + 40 + 16 * legend_rows

    def x(c: float) -> float:
        return _LEFT + _SIDE * c

    def y(a: float) -> float:
        return _TOP + _SIDE * (1.0 - a)

    parts = [_open(width, height, title)]
    # Frame, grid and ticks.
    for i in range(6):
        v = i / 5
        parts.append(
            f'<line class="grid" x1="{_f(x(v))}" y1="{_f(_TOP)}" x2="{_f(x(v))}" '
            f'y2="{_f(_TOP + _SIDE)}"/>'
        )
        parts.append(
            f'<line class="grid" x1="{_f(_LEFT)}" y1="{_f(y(v))}" x2="{_f(_LEFT + _SIDE)}" '
            f'y2="{_f(y(v))}"/>'
        )
        parts.append(_text(x(v), _TOP + _SIDE + 14, _tick(v), "tick"))
        parts.append(_text(_LEFT - 6, y(v) + 4, _tick(v), "tick", "end"))
    parts.append(
        f'<rect class="frame" x="{_f(_LEFT)}" y="{_f(_TOP)}" width="{_f(_SIDE)}" '
        f'height="{_f(_SIDE)}"/>'
    )
    parts.append(
        f'<line class="diagonal" x1="{_f(x(0))}" y1="{_f(y(0))}" x2="{_f(x(1))}" y2="{_f(y(1))}"/>'
    )
    parts.append(_text(_LEFT + _SIDE / 2, _TOP + _SIDE + 30, "confidence", "axis"))
    parts.append(
        f'<text class="axis" text-anchor="middle" transform="translate(16 '
        f'{_f(_TOP + _SIDE / 2)}) rotate(-90)">accuracy</text>'
    )
    parts.append(_text(x(0.03), _TOP + 14, "underconfident", "note", "start"))
    parts.append(_text(x(0.97), _TOP + _SIDE - 8, "overconfident", "note", "end"))
    for k, s in enumerate(series):
        filled = _filled(s.bins)
        total = sum(float(b["weight"]) for b in filled) or 1.0
        heaviest = max((float(b["weight"]) for b in filled), default=1.0) or 1.0
        cls = f"s{k % 4}"
        for b in filled:
            c, a = float(b["confidence"]), float(b["accuracy"])
            parts.append(
                f'<line class="gap {cls}" x1="{_f(x(c))}" y1="{_f(y(c))}" '
                f'x2="{_f(x(c))}" y2="{_f(y(a))}"/>'
            )
        if len(filled) >= 2:
            points = " ".join(
                f"{_f(x(float(b['confidence'])))},{_f(y(float(b['accuracy'])))}" for b in filled
            )
            parts.append(f'<polyline class="binline {cls}" points="{points}"/>')
        if s.smooth:
            for kind, dense in (("smooth-thin", False), ("smooth", True)):
                for run in smooth_runs(s.smooth, dense_only=dense):
                    points = " ".join(f"{_f(x(c))},{_f(y(a))}" for c, a in run)
                    parts.append(f'<polyline class="{kind} {cls}" points="{points}"/>')
        for b in filled:
            c, a, w = float(b["confidence"]), float(b["accuracy"]), float(b["weight"])
            radius = 2.5 + 7.5 * math.sqrt(w / heaviest)
            tip = (
                f"{escape(s.name)}: [{b['lower']:.3g}, {b['upper']:.3g}] "
                f"conf {c:.4f}, acc {a:.4f}, {100 * w / total:.1f} % of weight"
            )
            parts.append(
                f'<circle class="point {cls}" cx="{_f(x(c))}" cy="{_f(y(a))}" '
                f'r="{_f(radius)}"><title>{tip}</title></circle>'
            )
    # Confidence histogram beneath: share of each series' weight per bin, side by side.
    parts.append(
        f'<rect class="frame" x="{_f(_LEFT)}" y="{_f(hist_top)}" width="{_f(_SIDE)}" '
        f'height="{_f(_HIST)}"/>'
    )
    shares = []
    for s in series:
        total = sum(float(b.get("weight") or 0.0) for b in s.bins) or 1.0
        shares.append([float(b.get("weight") or 0.0) / total for b in s.bins])
    top_share = max((v for row in shares for v in row), default=0.0) or 1.0
    for k, (s, row) in enumerate(zip(series, shares, strict=True)):
        for b, share in zip(s.bins, row, strict=True):
            if share <= 0:
                continue
            lo, hi = float(b["lower"]), float(b["upper"])
            span = (hi - lo) / len(series)
            left = x(lo + k * span) + 0.5
            bar_width = max(_SIDE * span - 1.0, 0.8)
            bar_height = max((_HIST - 4) * share / top_share, 0.8)
            bar_top = hist_top + _HIST - bar_height
            parts.append(
                f'<rect class="bar s{k % 4}" x="{_f(left)}" y="{_f(bar_top)}" '
                f'width="{_f(bar_width)}" height="{_f(bar_height)}"><title>{escape(s.name)}: '
                f"{100 * share:.1f} % of the weight</title></rect>"
            )
    for i in range(6):
        parts.append(_text(x(i / 5), hist_top + _HIST + 14, _tick(i / 5), "tick"))
    parts.append(
        _text(_LEFT + _SIDE / 2, hist_top - 6, "share of the weight per confidence bin", "note")
    )
    parts.append(
        _text(_LEFT - 6, hist_top + 10, f"{100 * top_share:.0f} %", "tick", "end")
        + _text(_LEFT - 6, hist_top + _HIST, "0", "tick", "end")
    )
    # Legend.
    row_y = hist_top + _HIST + 36
    for k, s in enumerate(series):
        cls = f"s{k % 4}"
        parts.append(
            f'<circle class="point {cls}" cx="{_f(_LEFT + 6)}" cy="{_f(row_y - 4)}" r="5"/>'
        )
        parts.append(_text(_LEFT + 18, row_y, f"{shorten(s.name)}: binned", "legend", "start"))
        row_y += 16
        if s.smooth:
            parts.append(
                f'<line class="smooth {cls}" x1="{_f(_LEFT)}" y1="{_f(row_y - 4)}" '
                f'x2="{_f(_LEFT + 12)}" y2="{_f(row_y - 4)}"/>'
            )
            bandwidth = s.smooth.get("bandwidth")
            note = f" (bandwidth {bandwidth:.3g})" if isinstance(bandwidth, int | float) else ""
            label = f"{shorten(s.name)}: smoothed{note}"
            parts.append(_text(_LEFT + 18, row_y, label, "legend", "start"))
            row_y += 16
    parts.append("</svg>")
    return "".join(parts)


def bars_svg(
    rows: Sequence[tuple[str, float | None]], *, unit: str, title: str = "Loss per class"
) -> str:
    """A horizontal bar per (label, value), in the given order; missing values are marked."""
    label_width = min(max((len(label) for label, _ in rows), default=4) * 7.0 + 12, 200.0)
    bar_space = 320.0
    row_h = 18.0
    width = label_width + bar_space + 80
    height = row_h * len(rows) + 34
    finite = [v for _, v in rows if v is not None and math.isfinite(v)]
    top = max(finite, default=1.0) or 1.0
    parts = [_open(width, height, title)]
    for i, (label, value) in enumerate(rows):
        y0 = 6 + i * row_h
        shown = label if len(label) <= 28 else label[:27] + "…"
        parts.append(_text(label_width - 8, y0 + 12.5, shown, "tick", "end"))
        if value is None or not math.isfinite(value):
            parts.append(_text(label_width + 4, y0 + 12.5, "–", "tick", "start"))
            continue
        length = max(bar_space * value / top, 0.8)
        parts.append(
            f'<rect class="bar s0" x="{_f(label_width)}" y="{_f(y0 + 2)}" '
            f'width="{_f(length)}" height="{_f(row_h - 5)}"><title>{escape(label)}: '
            f"{value:.6g} {escape(unit)}</title></rect>"
        )
        parts.append(_text(label_width + length + 5, y0 + 12.5, f"{value:.4g}", "tick", "start"))
    axis_y = 6 + len(rows) * row_h + 4
    parts.append(
        f'<line class="frame" x1="{_f(label_width)}" y1="{_f(axis_y)}" '
        f'x2="{_f(label_width + bar_space)}" y2="{_f(axis_y)}"/>'
    )
    parts.append(_text(label_width + bar_space / 2, axis_y + 18, f"loss ({unit})", "axis"))
    parts.append("</svg>")
    return "".join(parts)


def _decade_label(exponent: int) -> str:
    return f"{10.0**exponent:g}" if -3 <= exponent <= 3 else f"1e{exponent}"


def histogram_svg(
    edges: Sequence[float],
    weight: Sequence[float],
    *,
    unit: str,
    markers: Sequence[tuple[str, float]] = (),
    title: str = "Distribution of the per-sample loss",
) -> str:
    """The log-spaced loss histogram on a log axis (share of the weight per bin), with vertical
    markers (e.g. the quantiles). A first bin that starts at 0 is drawn one bin-width wide."""
    width, height = 540.0, 262.0
    left, top, plot_w, plot_h = 58.0, 44.0, 460.0, 170.0
    parts = [_open(width, height, title)]
    if not weight:
        parts.append(_text(width / 2, height / 2, "no losses", "note"))
        parts.append("</svg>")
        return "".join(parts)
    lows = list(edges[:-1])
    highs = list(edges[1:])
    if lows[0] <= 0:
        ratio = highs[1] / lows[1] if len(lows) > 1 and lows[1] > 0 else 10.0
        lows[0] = highs[0] / ratio
    lo_exp = math.floor(math.log10(lows[0]))
    hi_exp = math.ceil(math.log10(highs[-1]))
    if hi_exp <= lo_exp:
        hi_exp = lo_exp + 1

    def x(v: float) -> float:
        return left + plot_w * (math.log10(v) - lo_exp) / (hi_exp - lo_exp)

    total = sum(weight) or 1.0
    top_share = max(weight) / total or 1.0
    parts.append(
        f'<rect class="frame" x="{_f(left)}" y="{_f(top)}" width="{_f(plot_w)}" '
        f'height="{_f(plot_h)}"/>'
    )
    step = max(1, math.ceil((hi_exp - lo_exp) / 8))
    for e in range(lo_exp, hi_exp + 1, step):
        parts.append(
            f'<line class="grid" x1="{_f(x(10.0**e))}" y1="{_f(top)}" '
            f'x2="{_f(x(10.0**e))}" y2="{_f(top + plot_h)}"/>'
        )
        parts.append(_text(x(10.0**e), top + plot_h + 14, _decade_label(e), "tick"))
    for lo, hi, w in zip(lows, highs, weight, strict=True):
        if w <= 0:
            continue
        h = max((plot_h - 4) * (w / total) / top_share, 0.8)
        parts.append(
            f'<rect class="bar s0" x="{_f(x(lo))}" y="{_f(top + plot_h - h)}" '
            f'width="{_f(max(x(hi) - x(lo) - 0.6, 0.6))}" height="{_f(h)}"><title>'
            f"[{lo:.3g}, {hi:.3g}) {escape(unit)}: {100 * w / total:.2f} % of the weight"
            "</title></rect>"
        )
    placed: list[tuple[float, float]] = []  # (x, y) of the labels so far
    for name, value in markers:
        if value is None or not (value > 0 and math.isfinite(value)):
            continue
        mx = min(max(x(value), left), left + plot_w)
        parts.append(
            f'<line class="marker" x1="{_f(mx)}" y1="{_f(top)}" x2="{_f(mx)}" '
            f'y2="{_f(top + plot_h)}"/>'
        )
        # Labels sit above the frame; one that would touch an earlier one goes a row higher.
        label_y = top - 6
        while any(abs(px - mx) < 62 and py == label_y for px, py in placed):
            label_y -= 13
        placed.append((mx, label_y))
        parts.append(_text(mx, label_y, f"{name} {value:.3g}", "note"))
    parts.append(
        _text(left - 6, top + 10, f"{100 * top_share:.1f} %", "tick", "end")
        + _text(left - 6, top + plot_h, "0", "tick", "end")
    )
    parts.append(_text(left + plot_w / 2, top + plot_h + 32, f"loss ({unit}, log scale)", "axis"))
    parts.append("</svg>")
    return "".join(parts)
