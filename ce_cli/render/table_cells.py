"""Cells of the Rich table report: numbers and percentages as text, text from the data as plain
:class:`rich.text.Text` (never markup, control characters escaped), and a titled table."""

from __future__ import annotations

from rich import box
from rich.table import Table
from rich.text import Text

from ce_cli.printable import printable


def _data(value: object) -> Text:
    """A cell from the data: plain text (no markup), control characters escaped."""
    return Text(printable(value))


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


def _titled(title: str) -> Table:
    return Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", title_style="bold")
