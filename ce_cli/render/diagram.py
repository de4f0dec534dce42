"""A reliability diagram drawn in text, for the table report: readable at 80 columns, with or
without colour.

Accuracy (rows, 0 at the bottom) against confidence (columns); ``·`` marks the diagonal (perfect
calibration), ``●`` each non-empty bin's (mean confidence, accuracy), ``∗`` the smooth curve when
the report has one (``calibration.smooth``), where confidences are not sparse; the line beneath
is the confidence histogram (share of the weight, ``▁`` to ``█``). A point below the diagonal is
overconfident. In colour, overconfident points are red and underconfident ones blue; without
colour nothing is lost.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from rich.text import Text

from ce_cli.render.svg import smooth_runs

WIDTH = 51  # columns: confidence 0, 0.02, …, 1
HEIGHT = 11  # rows: accuracy 0, 0.1, …, 1
_BLOCKS = " ▁▂▃▄▅▆▇█"
_MARGIN = "     "


def _column(c: float) -> int:
    return min(max(round(c * (WIDTH - 1)), 0), WIDTH - 1)


def _row(a: float) -> int:
    return min(max(round(a * (HEIGHT - 1)), 0), HEIGHT - 1)


def _histogram(bins: Sequence[dict[str, Any]]) -> str:
    """One character per column: the weight of the bin holding the column's confidence."""
    heaviest = max((float(b.get("weight") or 0.0) for b in bins), default=0.0)
    if heaviest <= 0:
        return " " * WIDTH
    chars = []
    for col in range(WIDTH):
        c = col / (WIDTH - 1)
        weight = 0.0
        for b in bins:
            upper = float(b["upper"])
            if float(b["lower"]) <= c < upper or (c == 1.0 and upper >= 1.0):
                weight = float(b.get("weight") or 0.0)
                break
        level = 0 if weight <= 0 else max(1, math.ceil(8 * weight / heaviest))
        chars.append(_BLOCKS[level])
    return "".join(chars)


def reliability_text(calibration: dict[str, Any]) -> Text:
    """The diagram for a report's ``calibration`` section (``bins``, optional ``smooth``)."""
    bins = calibration.get("bins") or []
    grid = [[" "] * WIDTH for _ in range(HEIGHT)]
    styles: dict[tuple[int, int], str] = {}
    for col in range(WIDTH):  # the diagonal: every column at its own accuracy row
        r = _row(col / (WIDTH - 1))
        grid[r][col] = "·"
        styles[(r, col)] = "dim"
    smooth = calibration.get("smooth")
    if isinstance(smooth, dict):
        for run in smooth_runs(smooth, dense_only=True):
            for c, a in run:
                cell = (_row(a), _column(c))
                grid[cell[0]][cell[1]] = "∗"
                styles[cell] = "magenta"
    for b in bins:
        c, a = b.get("confidence"), b.get("accuracy")
        if not b.get("weight") or c is None or a is None:
            continue
        cell = (_row(float(a)), _column(float(c)))
        grid[cell[0]][cell[1]] = "●"
        styles[cell] = "red" if c > a else "blue"
    text = Text()
    for r in range(HEIGHT - 1, -1, -1):
        label = f"{r / (HEIGHT - 1):.1f}" if r % 2 == 0 else ""
        text.append(f"{label:>4} " + ("┤" if r % 2 == 0 else "│"))
        for col, char in enumerate(grid[r]):
            text.append(char, style=styles.get((r, col), ""))
        text.append("\n")
    axis = ["─"] * WIDTH
    for col in range(0, WIDTH, 10):
        axis[col] = "┬"
    text.append(_MARGIN + "└" + "".join(axis) + "\n")
    ticks = [" "] * (WIDTH + 4)
    for col in range(0, WIDTH, 10):
        label = f"{col / (WIDTH - 1):.1f}"
        for i, ch in enumerate(label):
            ticks[max(col - 1, 0) + i] = ch
    text.append(_MARGIN + " " + "".join(ticks).rstrip() + "   confidence\n")
    text.append(_MARGIN + " " + _histogram(bins), style="cyan")
    text.append("  weight\n")
    legend = "· perfect calibration  ● bin (below · = overconfident)"
    if isinstance(smooth, dict):
        legend += "  ∗ smoothed"
    text.append(legend, style="dim")
    return text
