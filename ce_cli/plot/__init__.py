"""Figures with matplotlib (``--plot PATH``), an optional extra: ``pip install 'ce-eval[plot]'``.

Like scikit-learn's ``CalibrationDisplay``, the figures take the report's computed statistics
and never recompute them. matplotlib is imported only here, and only when a figure is asked
for; figures are built on :class:`matplotlib.figure.Figure` with the Agg canvas (no pyplot, no
global state, no display). Output is byte-for-byte deterministic: fixed SVG hash salt, no dates
or software versions in PNG, SVG or PDF metadata, mathtext off (so a class named ``$x$`` is
shown as typed), so a CI artefact only changes when the numbers do.

One ``--plot`` file holds one figure: for an evaluation, the reliability diagram with the
confidence histogram beneath (left), the loss per class and the distribution of the per-sample
loss (right); for ``compare``, both models on one reliability diagram.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ce_cli.errors import UsageError
from ce_cli.printable import printable

FORMATS = (".png", ".svg", ".pdf")
INSTALL_HINT = "pip install 'ce-eval[plot]'"
MAX_BARS = 20
DPI = 110
_COLOURS = ("#1f6feb", "#d1242f", "#1a7f37", "#8250df")
_METADATA: dict[str, dict[str, Any]] = {
    "png": {"Software": None},
    "svg": {"Date": None, "Creator": "ce-eval"},
    "pdf": {"CreationDate": None, "ModDate": None, "Producer": None, "Creator": "ce-eval"},
}


def plot_format(path: str) -> str:
    """``png``, ``svg`` or ``pdf`` from ``path``'s extension, or a :class:`UsageError`."""
    suffix = Path(path).suffix.lower()
    if path == "-" or suffix not in FORMATS:
        raise UsageError(
            "--plot writes a .png, .svg or .pdf file",
            value=path,
            hint="e.g. --plot reliability.png (repeat --plot for several files)",
        )
    return suffix[1:]


def require_matplotlib() -> None:
    """Raise a one-line :class:`UsageError` saying how to install matplotlib if it is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError(
            "--plot needs matplotlib, which is not installed", hint=f"run {INSTALL_HINT}"
        ) from None


@contextmanager
def _style() -> Iterator[None]:
    """Our rc settings; warnings (a glyph missing from the font for a class name in another
    script, say) are silenced, as the command promises one line on stderr at most."""
    import warnings

    import matplotlib

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with _rc(matplotlib):
            yield


def _rc(matplotlib: Any) -> Any:
    return matplotlib.rc_context(
        {
            "svg.hashsalt": "ce-eval",
            "svg.fonttype": "path",
            "pdf.fonttype": 42,
            "text.parse_math": False,
            "font.family": "DejaVu Sans",
            "font.size": 9.5,
            "axes.titlesize": 11,
            "axes.titleweight": "bold",
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.color": "#e4e7eb",
            "grid.linewidth": 0.8,
            "axes.axisbelow": True,
            "figure.facecolor": "white",
            "savefig.facecolor": "white",
        }
    )


def _filled(bins: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        b
        for b in bins
        if b.get("weight") and b.get("confidence") is not None and b.get("accuracy") is not None
    ]


def _reliability(
    ax: Any, hist: Any, series: Sequence[tuple[str, dict[str, Any]]], title: str
) -> None:
    """Diagonal, binned points (area ∝ weight) with their gaps, smooth curves, histogram."""
    ax.plot([0, 1], [0, 1], ls="--", lw=1, color="#59636e", label="perfectly calibrated")
    n = len(series)
    for k, (name, cal) in enumerate(series):
        colour = _COLOURS[k % len(_COLOURS)]
        bins = cal.get("bins") or []
        filled = _filled(bins)
        heaviest = max((float(b["weight"]) for b in filled), default=1.0) or 1.0
        conf = [float(b["confidence"]) for b in filled]
        acc = [float(b["accuracy"]) for b in filled]
        for c, a in zip(conf, acc, strict=True):
            ax.plot([c, c], [c, a], color=colour, lw=1.2, alpha=0.45)
        ax.plot(conf, acc, color=colour, lw=0.9, alpha=0.5)
        sizes = [12 + 160 * float(b["weight"]) / heaviest for b in filled]
        ax.scatter(
            conf,
            acc,
            s=sizes,
            color=colour,
            alpha=0.6,
            edgecolors=colour,
            linewidths=1,
            zorder=3,
            clip_on=False,
            label=f"{name}: bins (area ∝ weight)" if n > 1 else "bins (area ∝ weight)",
        )
        smooth = cal.get("smooth")
        if isinstance(smooth, dict) and smooth.get("grid") and smooth.get("accuracy"):
            from ce_cli.render.svg import smooth_runs

            bandwidth = smooth.get("bandwidth")
            note = f" (bandwidth {bandwidth:.3g})" if isinstance(bandwidth, int | float) else ""
            prefix = f"{name}: " if n > 1 else ""
            # Thin and dashed where confidences are sparse, thick where they are dense.
            for dense, style in (
                (False, {"lw": 0.9, "ls": "--", "alpha": 0.7}),
                (True, {"lw": 2.2}),
            ):
                xs: list[float] = []
                ys: list[float] = []
                for run in smooth_runs(smooth, dense_only=dense):
                    xs += [c for c, _ in run] + [math.nan]
                    ys += [a for _, a in run] + [math.nan]
                label = f"{prefix}smoothed{note}" if dense else None
                ax.plot(xs, ys, color=colour, label=label, zorder=2.5, **style)
        total = sum(float(b.get("weight") or 0.0) for b in bins) or 1.0
        width = [(float(b["upper"]) - float(b["lower"])) / n for b in bins]
        left = [float(b["lower"]) + k * w for b, w in zip(bins, width, strict=True)]
        share = [100 * float(b.get("weight") or 0.0) / total for b in bins]
        hist.bar(left, share, width=width, align="edge", color=colour, alpha=0.75, lw=0)
    ax.set(xlim=(0, 1), ylim=(0, 1), ylabel="accuracy", title=title)
    ax.text(0.03, 0.96, "underconfident", transform=ax.transAxes, color="#59636e", va="top")
    ax.text(0.97, 0.03, "overconfident", transform=ax.transAxes, color="#59636e", ha="right")
    if n == 1:
        ax.legend(loc="upper left", bbox_to_anchor=(0.0, 0.92), frameon=False, fontsize=8.5)
    else:  # several models' long names: beneath the figure, clear of the curves
        ax.figure.legend(loc="outside lower center", frameon=False, fontsize=8.5, ncols=1)
    ax.tick_params(labelbottom=False)
    hist.set(xlim=(0, 1), xlabel="confidence", ylabel="% of weight")
    hist.grid(axis="x", visible=False)


def _class_bars(ax: Any, report: dict[str, Any]) -> None:
    rows = [r for r in report.get("per_class") or [] if r.get("loss") is not None]
    what = "label" if report.get("detected", {}).get("task") == "multilabel" else "class"
    rows.sort(key=lambda r: -float(r["loss"]))
    shown = rows[:MAX_BARS]
    names = [printable(r["class"]) for r in shown]
    names = [n if len(n) <= 22 else n[:21] + "…" for n in names]
    positions = list(range(len(shown)))
    ax.barh(positions, [float(r["loss"]) for r in shown], height=0.7, color=_COLOURS[0], alpha=0.8)
    ax.set_yticks(positions, names, fontsize=9 if len(shown) <= 10 else 7.5)
    # Few classes keep thin bars at the top rather than two bars filling the panel.
    ax.set_ylim(max(len(shown), 8) - 0.5, -0.5)
    ax.grid(axis="y", visible=False)
    ax.tick_params(axis="y", length=0)
    title = f"Loss per {what}"
    if len(rows) > MAX_BARS:
        title += f" (the {MAX_BARS} highest of {len(rows)})"
    ax.set(title=title, xlabel=f"mean loss ({report.get('base', '')})")
    if len(shown) <= 12:
        for y, r in zip(positions, shown, strict=True):
            ax.text(float(r["loss"]), y, f" {float(r['loss']):.4g}", va="center", fontsize=8)
        ax.margins(x=0.15)


def _loss_distribution(ax: Any, report: dict[str, Any]) -> None:
    hist = report.get("loss_histogram") or {}
    edges = [float(e) for e in hist.get("edges") or []]
    weight = [float(w) for w in hist.get("weight") or []]
    base = report.get("base", "")
    ax.set(title="Distribution of the per-sample loss", xlabel=f"loss ({base}, log scale)")
    if not weight:
        ax.set_axis_off()
        missing = "no losses" if hist else "the report has no loss histogram"
        ax.text(0.5, 0.5, missing, transform=ax.transAxes, ha="center", color="#59636e")
        return
    if edges[0] <= 0:
        ratio = edges[2] / edges[1] if len(edges) > 2 and edges[1] > 0 else 10.0
        edges[0] = edges[1] / ratio
    total = sum(weight) or 1.0
    ax.stairs([100 * w / total for w in weight], edges, fill=True, color=_COLOURS[0], alpha=0.75)
    from matplotlib.ticker import FuncFormatter, LogLocator

    ax.set_xscale("log")
    # Plain tick labels (0.01, 1, 1e-06): mathtext, which the log axis uses by default, is off.
    ax.xaxis.set_major_locator(LogLocator(base=10, numticks=9))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_ylabel("% of weight")
    q = report.get("loss_quantiles") or {}
    top = 100 * max(weight) / total
    for i, name in enumerate(("p50", "p90", "p99")):
        value = q.get(name)
        if isinstance(value, int | float) and value > 0 and math.isfinite(value):
            ax.axvline(value, color="#59636e", lw=1, ls=":")
            ax.text(
                value,
                top * (1.12 - 0.09 * i),
                f" {name} {value:.3g}",
                fontsize=8,
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1},
            )
    ax.set_ylim(0, top * 1.2)


def _figure_for_report(report: dict[str, Any]) -> Any:
    from matplotlib.figure import Figure

    from ce_cli.render.svg import shorten

    fig = Figure(figsize=(12, 7.6), dpi=DPI, layout="constrained")
    outer = fig.add_gridspec(1, 2, width_ratios=[1.0, 1.05])
    left = outer[0].subgridspec(2, 1, height_ratios=[4, 1.1])
    right = outer[1].subgridspec(2, 1, height_ratios=[1, 1])
    ax = fig.add_subplot(left[0])
    hist = fig.add_subplot(left[1], sharex=ax)
    source = printable(report.get("source", ""))
    metrics = report.get("metrics") or {}
    ece = metrics.get("ece")
    title = "Reliability diagram" + (f" (ECE {ece:.4g})" if isinstance(ece, float) else "")
    _reliability(ax, hist, [("model", report.get("calibration") or {})], title)
    _class_bars(fig.add_subplot(right[0]), report)
    _loss_distribution(fig.add_subplot(right[1]), report)
    fig.suptitle(
        f"ce-eval: {shorten(source, 90)}  ({report.get('n_samples', 0):,} rows)", fontsize=12
    )
    return fig


def _figure_for_comparison(result: dict[str, Any]) -> Any:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.6, 9.0), dpi=DPI, layout="constrained")
    grid = fig.add_gridspec(2, 1, height_ratios=[4, 1.1])
    ax = fig.add_subplot(grid[0])
    hist = fig.add_subplot(grid[1], sharex=ax)
    cal = result.get("calibration") or {}
    from ce_cli.render.svg import shorten

    series = [
        (f"A = {shorten(printable(result.get('a', 'A')))}", cal.get("a") or {}),
        (f"B = {shorten(printable(result.get('b', 'B')))}", cal.get("b") or {}),
    ]
    _reliability(ax, hist, series, "Reliability diagram: A and B")
    return fig


def _save(fig: Any, fmt: str) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, metadata=_METADATA[fmt])
    return buffer.getvalue()


def figure(data: Any, *, comparison: bool = False) -> Any:
    """The :class:`matplotlib.figure.Figure` for a :class:`~ce_cli.report.report.Report`, a report
    dict or (``comparison``) a ``compare`` result; for a notebook, like scikit-learn's displays.

    >>> import ce_cli
    >>> from ce_cli.plot import figure
    >>> fig = figure(ce_cli.evaluate("sample_data/binary.csv"))
    >>> len(fig.axes)
    4
    """
    if hasattr(data, "to_dict"):
        from ce_cli.render.json import clean

        data = clean(data.to_dict())
    with _style():
        return _figure_for_comparison(data) if comparison else _figure_for_report(data)


def figure_bytes(data: Any, fmt: str, *, comparison: bool = False) -> bytes:
    """The figure for a report (or a ``compare`` result) as PNG, SVG or PDF bytes."""
    with _style():
        return _save(figure(data, comparison=comparison), fmt)


def write_plots(paths: Sequence[str], data: dict[str, Any], *, comparison: bool = False) -> None:
    """Write the figure to each path (format by extension), each file atomically."""
    from ce_cli.io.atomic import AtomicOutput

    for path in paths:
        content = figure_bytes(data, plot_format(path), comparison=comparison)
        with AtomicOutput(path, "--plot") as out, out.open_binary() as f:
            f.write(content)
