"""The report as GitHub-flavoured Markdown (``$GITHUB_STEP_SUMMARY``, pull-request comments)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from ce_cli.printable import printable

MAX_ROWS = 25


def _num(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.6g}"


def _cell(text: Any) -> str:
    return printable(str(text).replace("|", "\\|").replace("\n", " "))


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


def render_markdown(report: dict[str, Any], images: Sequence[str] = ()) -> str:
    """Headline, summary, gates, baseline, per-class rows and calibration bins as tables;
    ``images`` (paths relative to the report, e.g. a ``--plot`` PNG beside it) are shown at the
    top of the calibration section."""
    d = report["detected"]
    kind = d["predictions"]
    out = [
        f"## ce-eval: `{_cell(report['source'])}`",
        "",
        f"{report['n_samples']:,} rows · {d['task']} · {d['n_classes']} classes · {kind} · "
        f"logs in {report['base']}",
        "",
    ]
    from ce_cli.render.table import row_notes

    notes = row_notes(report.get("counts", {}), report.get("settings", {}))
    if notes:
        out += ["Rows: " + " · ".join(_cell(n) for n in notes), ""]
    columns = d.get("columns", {})
    if columns.get("predictions"):
        shown = ", ".join(f"`{_cell(c)}`" for c in columns["predictions"][:8])
        shown += ", …" if len(columns["predictions"]) > 8 else ""
        why = columns.get("predictions_reason")
        out += [f"Prediction columns: {shown}" + (f" ({_cell(why)})" if why else ""), ""]
    intervals = report.get("confidence_intervals", {})
    header = ["metric", "value"] + (["interval"] if intervals else [])
    rows = []
    for name, value in report["metrics"].items():
        row = [name, _num(value)]
        if intervals:
            ci = intervals.get(name)
            row.append("" if ci is None else f"[{_num(ci['low'])}, {_num(ci['high'])}]")
        rows.append(row)
    out += _table(header, rows)
    gates = report.get("gates") or []
    if gates:
        out += ["### Gates", ""]
        out += _table(
            ["metric", "rule", "value", "result"],
            [
                [
                    g["metric"],
                    f"{'≤' if g['op'] == 'max' else '≥'} {g['threshold']:g}",
                    _num(g["value"]),
                    "✅ pass" if g["passed"] else "❌ fail",
                ]
                for g in gates
            ],
        )
    baseline = report.get("baseline") or []
    if baseline:
        out += ["### Against the baseline", ""]
        out += _table(
            ["metric", "baseline", "current", "Δ", "result"],
            [
                [
                    r["metric"],
                    _num(r["baseline"]),
                    _num(r["current"]),
                    "–" if r["delta"] is None else f"{r['delta']:+.4g}",
                    "–" if r["passed"] is None else "✅" if r["passed"] else "❌ regressed",
                ]
                for r in baseline
            ],
        )
    per_class = report.get("per_class") or []
    if per_class:
        out += ["### Per class", ""]
        out += _table(
            ["class", "support", "loss", "accuracy", "mean confidence", "mean p(true)", "ECE"],
            [
                [
                    r["class"],
                    _num(r["support"]),
                    _num(r["loss"]),
                    _num(r["accuracy"]),
                    _num(r["mean_confidence"]),
                    _num(r["mean_true_prob"]),
                    _num(r.get("ece")),
                ]
                for r in per_class[:MAX_ROWS]
            ],
        )
        if len(per_class) > MAX_ROWS:
            out += [f"_{len(per_class) - MAX_ROWS} more classes in the JSON report._", ""]
    sequences = report.get("sequences")
    if sequences:
        ppl = sequences["perplexity"]
        out += [f"### Per-sequence perplexity ({sequences['n_sequences']:,} sequences)", ""]
        out += _table(
            ["mean", "token-weighted", "p50", "p90", "p99", "min", "max"],
            [
                [
                    _num(ppl[k])
                    for k in ("mean", "token_weighted_mean", "p50", "p90", "p99", "min", "max")
                ]
            ],
        )
        if sequences["worst"]:
            out += _table(
                ["worst sequence", "rows", "tokens", "perplexity"],
                [
                    [
                        str(s["sequence"]),
                        f"{s['first_row']}–{s['last_row']}",
                        _num(s["tokens"]),
                        _num(s["perplexity"]),
                    ]
                    for s in sequences["worst"]
                ],
            )
    bins = [b for b in report.get("calibration", {}).get("bins", []) if b["count"]]
    if bins or images:
        out += ["### Calibration", ""]
    for image in images:
        out += [f"![Reliability diagram and losses]({quote(image)})", ""]
    if bins:
        out += _table(
            ["bin", "count", "confidence", "accuracy", "gap", "conf. − acc."],
            [
                [
                    f"[{b['lower']:.3f}, {b['upper']:.3f}]",
                    _num(b["count"]),
                    _num(b["confidence"]),
                    _num(b["accuracy"]),
                    _num(b["gap"]),
                    _signed(b.get("signed_gap")),
                ]
                for b in bins
            ],
        )
    calibration = report.get("calibration", {})
    mass = [b for b in calibration.get("equal_mass_bins", []) if b["weight"]]
    if mass:
        out += ["### Equal-mass bins", ""]
        out += _table(
            ["confidence range", "weight", "confidence", "accuracy", "conf. − acc."],
            [
                [
                    f"[{b['lower']:.4f}, {b['upper']:.4f}]",
                    _num(b["weight"]),
                    _num(b["confidence"]),
                    _num(b["accuracy"]),
                    _signed(b["signed_gap"]),
                ]
                for b in mass
            ],
        )
    parts = calibration.get("brier_decomposition")
    if parts:
        out += [f"### Brier score, decomposed ({parts['view']})", ""]
        names = (
            "reliability",
            "resolution",
            "uncertainty",
            "within_bin_variance",
            "within_bin_covariance",
            "target_variance",
        )
        out += _table(
            ["part", "value"],
            [[("− " if k == "resolution" else "+ ") + k, _num(parts[k])] for k in names]
            + [["= brier", _num(report["metrics"]["brier"])]],
        )
    temperature = report.get("temperature")
    if temperature:
        out += [
            f"_Temperature fitted in {temperature['passes']} passes over the input "
            f"({temperature['iterations']} Newton steps)"
            + (f": {temperature['note']}" if temperature.get("note") else "")
            + ("" if temperature.get("converged", True) else "; the search did not converge")
            + "._",
            "",
        ]
    return "\n".join(out)


def _signed(value: float | None) -> str:
    return "–" if value is None else f"{value:+.4g}"


def render_compare_markdown(result: dict[str, Any]) -> str:
    """``ce-eval compare`` as Markdown: each metric's values, ``A − B``, interval and verdict."""
    level = result.get("level")
    out = [
        f"## ce-eval compare: A = `{_cell(result['a'])}`, B = `{_cell(result['b'])}`",
        "",
        f"{result['n_samples']:,} paired rows (by {result['paired_by']}) · logs in "
        f"{result['base']} · {_num(None if level is None else 100 * level)} % paired "
        f"bootstrap intervals ({result['replicates']:,} replicates)",
        "",
    ]
    rows = []
    for name, m in result["metrics"].items():
        interval = "–" if m["low"] is None else f"[{m['low']:+.4g}, {m['high']:+.4g}]"
        difference = "–" if m["difference"] is None else f"{m['difference']:+.4g}"
        rows.append([name, _num(m["a"]), _num(m["b"]), difference, interval, m["verdict"]])
    out += _table(["metric", "A", "B", "A − B", "interval", "verdict"], rows)
    return "\n".join(out)
