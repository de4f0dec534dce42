"""``ce-eval compare`` as a text table (Rich): both models' values, A - B, the paired interval and
the verdict per metric, fitting 80 columns."""

from __future__ import annotations

from typing import Any

from ce_cli.judge.verdicts import A_BETTER, B_BETTER


def _fmt(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def render_compare_table(result: dict[str, Any], *, color: bool = False, width: int = 100) -> str:
    """The comparison as a text table that fits 80 columns (file names are shown as they are,
    never read as markup; no trailing spaces)."""
    import io

    from rich import box
    from rich.console import Console, Group
    from rich.table import Table
    from rich.text import Text

    from ce_cli.printable import printable

    title = Text()
    title.append(f"A = {printable(result['a'])}\nB = {printable(result['b'])}\n")
    title.append(
        f"{result['n_samples']:,} paired rows ({result['paired_by']}), "
        f"{result['level'] * 100:g} % paired bootstrap intervals of A - B"
    )
    if result.get("passes", 1) > 1:
        title.append(
            f"\neach input read {result['passes']} times "
            "(balanced class weights count the labels first)"
        )
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for column in ("metric", "A", "B", "A - B", "interval", "verdict"):
        # The verdict is worded as in the JSON (VERDICTS); on a narrow terminal it wraps at a
        # space rather than being cut.
        table.add_column(
            column,
            justify="left" if column in ("metric", "verdict") else "right",
            no_wrap=column != "verdict",
            # Its longest word ("significant", "descriptive") stays whole.
            min_width=11 if column == "verdict" else None,
        )
    # Below 96 columns the verdict keeps room for its longest word by one digit fewer in the
    # values and the interval (the JSON has every digit).
    value, bound = (".4g", "+.2g") if width < 96 else (".5g", "+.3g")
    for name, m in result["metrics"].items():
        verdict = m["verdict"]
        style = "green" if verdict == A_BETTER else "red" if verdict == B_BETTER else ""
        interval = "–" if m["low"] is None else f"[{m['low']:{bound}}, {m['high']:{bound}}]"
        table.add_row(
            name,
            _fmt(m["a"], value),
            _fmt(m["b"], value),
            _fmt(m["difference"], "+.3g"),
            interval,
            Text(verdict, style=style),
        )
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=color, no_color=not color, width=width)
    console.print(Group(title, table))
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()).rstrip() + "\n"
