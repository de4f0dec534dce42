"""Pictures: the text reliability diagram, --plot figures (PNG, SVG, PDF), --format html.

The figures are checked as files (signatures, sizes, parsers, byte-identical reruns), the HTML
as a page (parses, no network reference, escapes the data, lists every estimator) and, where a
Chromium is installed, rendered by a real browser.
"""

from __future__ import annotations

import copy
import math
import os
import re
import shutil
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ce_cli.api import evaluate
from ce_cli.cli.main import main
from ce_cli.printable import printable
from ce_cli.render.diagram import HEIGHT, WIDTH, reliability_text
from ce_cli.render.html import render_html
from ce_cli.render.json import clean
from ce_cli.render.markdown import render_markdown
from ce_cli.render.table import render_table
from ce_cli.report.report import LOSS_HISTOGRAM_BINS_PER_DECADE
from ce_cli.state.accumulator import LOSS_BINS_PER_DECADE

SAMPLES = Path(__file__).resolve().parent.parent / "sample_data"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _report(path: Path | str, **options: Any) -> dict[str, Any]:
    return clean(evaluate(str(path), **options).to_dict())


def _with_smooth(report: dict[str, Any]) -> dict[str, Any]:
    """``report`` with the sections issue 14's estimators add: a smooth curve, equal-mass
    bins and further calibration metrics (made-up values; the renderers only draw them)."""
    out = copy.deepcopy(report)
    grid = [i / 100 for i in range(101)]
    out["calibration"]["smooth"] = {
        "bandwidth": 0.0625,
        "grid": grid,
        "accuracy": [None if c < 0.1 else 0.9 * c for c in grid],
        "density": [0.001 if c < 0.2 else 1.0 for c in grid],  # sparse below 0.2
    }
    out["calibration"]["equal_mass_bins"] = [
        {"lower": 0.0, "upper": 0.5, "count": 10, "confidence": 0.3, "accuracy": 0.25},
        {"lower": 0.5, "upper": 1.0, "count": 10, "confidence": 0.8, "accuracy": 0.7},
    ]
    out["calibration"]["brier_terms"] = {"wbv": 0.00123, "wbc": -0.00045, "note": "text"}
    out["calibration"]["smece_bandwidth"] = 0.0625
    for row in out["per_class"]:
        row["ece"] = 0.0123
    out["metrics"]["smece"] = 0.0412
    out["metrics"]["rmsce_made_up_estimator"] = 0.0733
    return out


_BASE_REPORT = clean(evaluate(str(SAMPLES / "multiclass.tsv")).to_dict())


@pytest.fixture(scope="module")
def multiclass() -> dict[str, Any]:
    return _report(SAMPLES / "multiclass.parquet", weight_col="weight", id_col="id", top=5)


# --- the loss histogram in the report ---------------------------------------------------------


def test_loss_histogram_holds_all_the_weight_in_increasing_log_spaced_bins() -> None:
    report = evaluate(str(SAMPLES / "multiclass.parquet"), weight_col="weight")
    hist = report.to_dict()["loss_histogram"]
    edges, weight = np.array(hist["edges"]), np.array(hist["weight"])
    assert hist["bins_per_decade"] == LOSS_HISTOGRAM_BINS_PER_DECADE
    assert LOSS_BINS_PER_DECADE % LOSS_HISTOGRAM_BINS_PER_DECADE == 0
    assert len(edges) == len(weight) + 1
    assert np.all(np.diff(edges) > 0)
    assert weight[0] > 0 and weight[-1] > 0  # cut to the non-empty span
    assert math.isclose(weight.sum(), report.counts["weight_total"], rel_tol=1e-12)
    ratios = edges[2:-1] / edges[1:-2]
    assert np.allclose(ratios, 10 ** (1 / LOSS_HISTOGRAM_BINS_PER_DECADE))
    q = report.loss_quantiles
    assert edges[0] <= q["min"] <= q["p50"] <= q["max"] <= edges[-1]


def test_loss_histogram_edges_follow_the_base() -> None:
    nats = evaluate(str(SAMPLES / "binary.csv")).to_dict()["loss_histogram"]
    bits = evaluate(str(SAMPLES / "binary.csv"), base="bits").to_dict()["loss_histogram"]
    assert bits["weight"] == nats["weight"]
    assert np.allclose(np.array(bits["edges"]) * math.log(2), nats["edges"], rtol=1e-12)


def test_loss_histogram_counts_every_row_of_a_hand_made_input(tmp_path: Path) -> None:
    # Losses -log(0.5) = 0.693 (twice) and -log(0.99) = 0.01005: two bins a decade apart.
    path = tmp_path / "p.csv"
    path.write_text("label,p\n1,0.5\n0,0.5\n1,0.99\n")
    hist = evaluate(str(path)).to_dict()["loss_histogram"]
    edges, weight = hist["edges"], hist["weight"]
    assert sum(weight) == 3
    low = next(i for i in range(len(weight)) if edges[i] <= -math.log(0.99) < edges[i + 1])
    high = next(i for i in range(len(weight)) if edges[i] <= math.log(2) < edges[i + 1])
    assert weight[low] == 1 and weight[high] == 2
    assert low == 0 and high == len(weight) - 1


# --- the terminal diagram ---------------------------------------------------------------------


def _grid(text: str) -> list[str]:
    """The plot rows of the diagram, top (accuracy 1) first, without the axis labels."""
    return [line[6 : 6 + WIDTH] for line in text.splitlines()[:HEIGHT]]


def test_text_diagram_puts_each_bin_at_its_confidence_and_accuracy() -> None:
    calibration = {
        "bins": [
            {"lower": 0.2, "upper": 0.3, "weight": 5.0, "confidence": 0.25, "accuracy": 0.1},
            {"lower": 0.8, "upper": 0.9, "weight": 9.0, "confidence": 0.86, "accuracy": 0.9},
            {"lower": 0.9, "upper": 1.0, "weight": 0.0, "confidence": None, "accuracy": None},
        ]
    }
    rows = _grid(reliability_text(calibration).plain)
    points = [(r, c) for r, line in enumerate(rows) for c, ch in enumerate(line) if ch == "●"]
    # Row 0 is accuracy 1.0; column c is confidence c / 50.
    assert points == [(1, 43), (9, 12)]
    assert "∗" not in reliability_text(calibration).plain


def test_text_diagram_draws_the_diagonal_the_histogram_and_the_smooth_curve() -> None:
    bins = [
        {"lower": b / 10, "upper": (b + 1) / 10, "weight": float(b), "confidence": None,
         "accuracy": None}
        for b in range(10)
    ]  # fmt: skip
    smooth = {"bandwidth": 0.05, "grid": [0.0, 0.5, 1.0], "accuracy": [0.0, 0.3, None]}
    text = reliability_text({"bins": bins, "smooth": smooth}).plain
    rows = _grid(text)
    assert [line[5 * (HEIGHT - 1 - r)] for r, line in enumerate(rows)][:10] == ["·"] * 10
    assert rows[7][25] == "∗" and rows[10][0] == "∗"  # (0.5, 0.3) and (0, 0)
    histogram = next(line for line in text.splitlines() if line.endswith("weight"))
    assert histogram[6] == " " and histogram[6 + WIDTH - 1] == "█"  # empty bin 0, heaviest 9
    assert "∗ smoothed" in text


def test_text_diagram_leaves_out_the_smooth_curve_where_confidences_are_sparse(
    multiclass: dict[str, Any],
) -> None:
    text = reliability_text(_with_smooth(multiclass)["calibration"]).plain
    columns = {c for line in _grid(text) for c, ch in enumerate(line) if ch == "∗"}
    assert columns and min(columns) == 10  # confidence 0.2: sparse below


def test_table_report_fits_80_columns_without_colour_and_shows_signed_gaps() -> None:
    report = evaluate(str(SAMPLES / "multiclass.parquet"))
    text = render_table(report, width=80)
    assert "\x1b[" not in text
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "Reliability diagram" in text and "●" in text
    over = [b for b in report.calibration["bins"] if b["count"]]
    signed = f"{over[-1]['confidence'] - over[-1]['accuracy']:+.3f}"
    assert signed in text


@pytest.mark.parametrize(
    ("gap", "bar"),
    [
        (0.0, "      │      "),
        (0.015, "      │█     "),
        (0.1, "      │██    "),
        (0.1000001, "      │███   "),
        (-0.3, "██████│      "),
        (-0.314, "◀█████│      "),
        (0.9, "      │█████▶"),
    ],
)
def test_gap_bar_is_one_block_per_0_05_either_side(gap: float, bar: str) -> None:
    from ce_cli.render.table_calibration import _gap_bar

    assert _gap_bar(gap).plain == bar


def test_table_report_in_colour_marks_overconfident_bins_red() -> None:
    text = render_table(evaluate(str(SAMPLES / "multiclass.parquet")), color=True, width=100)
    assert "\x1b[31m●" in text


# --- HTML -------------------------------------------------------------------------------------


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += attrs

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(page: str) -> _Collector:
    collector = _Collector()
    collector.feed(page)
    collector.close()
    return collector


def _assert_self_contained(page: str, *, benign_data: bool = True) -> None:
    """No element or attribute that loads anything; with data that holds no such text, not
    even the strings a network reference needs."""
    parsed = _parse(page)
    assert not {"script", "link", "img", "iframe", "object", "embed", "image"} & set(parsed.tags)
    names = {name for name, _ in parsed.attributes}
    assert not {"src", "href", "xlink:href", "srcset", "action", "background"} & names
    style = page[page.index("<style>") : page.index("</style>")]
    assert "url(" not in style and "@import" not in style and "//" not in style
    if benign_data:
        lowered = page.lower()
        for needle in ("http://", "https://", "//", "src=", "url(", "@import", "<script"):
            assert needle not in lowered, needle


def test_html_is_one_self_contained_page(multiclass: dict[str, Any]) -> None:
    page = render_html(multiclass)
    parsed = _parse(page)
    _assert_self_contained(page)
    assert parsed.tags.count("html") == 1 and parsed.tags.count("style") == 1
    assert parsed.tags.count("svg") == 3  # reliability diagram, loss per class, loss histogram
    assert "prefers-color-scheme:dark" in page and "@media print" in page
    text = " ".join(parsed.text)
    for section in ("Summary", "Calibration", "Per class", "Worst 5 rows", "What was detected"):
        assert section in text
    for row in multiclass["per_class"]:
        assert row["class"] in text


def test_html_lists_every_metric_and_draws_the_smooth_curve_when_present(
    multiclass: dict[str, Any],
) -> None:
    without = copy.deepcopy(multiclass)
    del without["calibration"]["smooth"]  # a report with no smooth curve draws none
    assert 'class="smooth' not in render_html(without)
    assert 'class="smooth' in render_html(multiclass)  # the real curve is drawn
    page = render_html(_with_smooth(multiclass))
    text = " ".join(_parse(page).text)
    for name in _with_smooth(multiclass)["metrics"]:
        assert name in text
    # One run each: the curve starts at 0.1 (accuracy None below), is thick from 0.2 (sparse
    # confidences below) and thin, dashed, over all of it.
    assert page.count('<polyline class="smooth s0"') == 1
    assert page.count('<polyline class="smooth-thin s0"') == 1
    thick = re.search(r'<polyline class="smooth s0" points="([\d.]+),', page)
    thin = re.search(r'<polyline class="smooth-thin s0" points="([\d.]+),', page)
    assert thick and thin
    assert float(thick.group(1)) == pytest.approx(58 + 420 * 0.2, abs=0.1)
    assert float(thin.group(1)) == pytest.approx(58 + 420 * 0.1, abs=0.1)
    assert "bandwidth 0.0625" in text
    assert "Equal-mass bins" in text
    # Both estimators are also in the calibration section's own table.
    calibration = page[page.index("<h2>Calibration") : page.index("<h2>Distribution")]
    assert "smece" in calibration and "rmsce_made_up_estimator" in calibration
    assert "0.0412" in calibration
    per_class = page[page.index("<h2>Per class") : page.index("<h2>Calibration")]
    assert '<th class="n">ece</th>' in per_class and "0.0123" in per_class
    assert "cross entropy" in per_class  # a key the page did not show before, shown now
    more = calibration[calibration.index("More from the calibration section") :]
    assert "brier_terms.wbv" in more and "-0.00045" in more and "smooth.bandwidth" in more
    assert "smece_bandwidth" in more and "brier_terms.note" not in more


def _odd_names(tmp_path: Path, names: list[str]) -> Path:
    """A three-class Parquet file whose prediction columns and labels are ``names``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 12
    probs = {name: [0.6 if i % 3 == j else 0.2 for i in range(n)] for j, name in enumerate(names)}
    path = tmp_path / "odd.parquet"
    pq.write_table(pa.table({"label": [names[i % 3] for i in range(n)], **probs}), path)
    return path


def test_html_escapes_text_from_the_data(tmp_path: Path) -> None:
    evil = "<script>alert(1)</script>"
    path = _odd_names(tmp_path, [evil, "b&c", "c"])
    report = _report(path, prob_cols=f"{evil},b&c,c")
    report["groups"] = [{"group": "<img src=x>", "n_samples": 1, "metrics": {"loss": 1.0}}]
    page = render_html(report)
    _assert_self_contained(page, benign_data=False)
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "b&amp;c" in page
    assert evil in " ".join(_parse(page).text)


def test_html_shows_gates_baseline_intervals_and_groups(tmp_path: Path, capsys) -> None:
    baseline = tmp_path / "base.json"
    assert main([str(SAMPLES / "binary.csv"), "--format", "json", "-o", str(baseline), "-q"]) == 0
    page_path = tmp_path / "report.html"
    code = main(
        [
            str(SAMPLES / "multiclass.parquet"), "--format", "html", "-o", str(page_path), "-q",
            "--max", "ece=0.001", "--min", "accuracy=0.1", "--ci", "0.9", "--bootstrap", "20",
            "--group-col", "label", "--top", "3", "--baseline", str(baseline),
        ]
    )  # fmt: skip
    capsys.readouterr()
    assert code == 1  # the ece gate fails; the page is still written
    page = page_path.read_text()
    _assert_self_contained(page)
    text = " ".join(_parse(page).text)
    assert "1 of 2 gates failed" in text
    cards = page[page.index('<div class="cards">') : page.index("<h2>Summary")]
    assert re.search(
        r'<div class="card bad"><div class="v">[^<]+</div><div class="k">ece · ≤ 0.001', cards
    )
    assert re.search(
        r'<div class="card ok"><div class="v">[^<]+</div><div class="k">accuracy', cards
    )
    assert "FAIL" in text and "pass" in text
    assert "Against the baseline" in text
    assert "90 % interval" in text
    assert "Per group" in text and "Worst 3 rows" in text


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("binary.csv", []),
        ("multilabel.parquet", ["--target-cols", "y_*", "--task", "multilabel"]),
        ("soft_labels.parquet", ["--target-cols", "t_*"]),
        ("multiclass_logits.csv", ["--smoothing", "0.1"]),
    ],
)
def test_html_for_every_task_parses(name: str, options: list[str], tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    assert main([str(SAMPLES / name), *options, "--format", "html", "-o", str(out), "-q"]) == 0
    page = out.read_text()
    _assert_self_contained(page)
    _parse(page)
    for svg in re.findall(r"<svg.*?</svg>", page, flags=re.S):
        ET.fromstring(svg)  # every figure is well-formed XML too


def _browser() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.mark.skipif(_browser() is None, reason="no Chromium installed (.ci/run installs one)")
@pytest.mark.parametrize("dark", [False, True])
def test_html_renders_in_headless_chromium(
    multiclass: dict[str, Any], tmp_path: Path, dark: bool
) -> None:
    from PIL import Image

    page = tmp_path / "report.html"
    page.write_text(render_html(_with_smooth(multiclass)), encoding="utf-8")
    shot = tmp_path / "shot.png"
    command = [
        str(_browser()), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--hide-scrollbars",
        f"--screenshot={shot}", "--window-size=1200,3000", *(["--force-dark-mode"] * dark),
        page.as_uri(),
    ]  # fmt: skip
    subprocess.run(command, capture_output=True, timeout=120, check=False)
    assert shot.read_bytes()[:8] == PNG_SIGNATURE
    with Image.open(shot) as image:
        assert image.size == (1200, 3000)
        rgb = image.convert("RGB")
        corner = rgb.getpixel((5, 5))
        assert isinstance(corner, tuple)
        assert (sum(corner) < 100) == dark  # the page follows the colour scheme
        colours = rgb.resize((120, 300)).getcolors(maxcolors=100_000)
        assert colours is not None and len(colours) > 50  # text and figures, not a blank page


# --- --plot -------------------------------------------------------------------------------------


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_plot_writes_png_svg_and_pdf(tmp_path: Path, capsys) -> None:
    paths = [tmp_path / f"fig.{ext}" for ext in ("png", "svg", "pdf")]
    args = [str(SAMPLES / "multiclass.parquet"), "-q", "--weight-col", "weight"]
    for path in paths:
        args += ["--plot", str(path)]
    assert main(args) == 0
    assert "Summary" in capsys.readouterr().out  # the report itself is unchanged
    png, svg, pdf = (p.read_bytes() for p in paths)
    assert _png_size(png) == (1320, 836)  # 12 × 7.6 inches at 110 dpi
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert "Reliability diagram" in svg.decode() and "Loss per class" in svg.decode()
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert b"CreationDate" not in pdf and b"<dc:date>" not in svg


def test_plot_figure_for_a_notebook_takes_the_report_object() -> None:
    from matplotlib.figure import Figure

    from ce_cli.plot import figure

    report = evaluate(str(SAMPLES / "binary.csv"))
    fig = figure(report)
    assert isinstance(fig, Figure)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0].startswith("Reliability diagram (ECE ")
    assert "Loss per class" in titles and "Distribution of the per-sample loss" in titles
    ece = report.metrics["ece"]
    assert f"{ece:.4g}" in titles[0]


def test_plot_is_written_when_a_gate_fails(tmp_path: Path, capsys) -> None:
    fig = tmp_path / "fig.png"
    code = main([str(SAMPLES / "binary.csv"), "--max", "ece=0", "--plot", str(fig), "-q"])
    assert code == 1 and "gate failed" in capsys.readouterr().err
    assert fig.read_bytes()[:8] == PNG_SIGNATURE


def test_plot_draws_the_smooth_curve_when_the_report_has_one(multiclass: dict[str, Any]) -> None:
    from ce_cli.plot import figure_bytes

    without = copy.deepcopy(multiclass)
    del without["calibration"]["smooth"]
    assert b"smoothed" not in figure_bytes(without, "svg")
    bandwidth = multiclass["calibration"]["smooth"]["bandwidth"]
    assert f"smoothed (bandwidth {bandwidth:.3g})".encode() in figure_bytes(multiclass, "svg")
    assert b"smoothed (bandwidth 0.0625)" in figure_bytes(_with_smooth(multiclass), "svg")


def test_plot_files_are_byte_identical_from_run_to_run(tmp_path: Path, capsys) -> None:
    """Another process (another hash seed, a later time) writes the same bytes as this one."""
    names = [f"fig.{ext}" for ext in ("png", "svg", "pdf")]
    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir()
    there.mkdir()
    args = [str(SAMPLES / "binary.csv"), "-q"]
    assert main([*args, *(a for n in names for a in ("--plot", str(here / n)))]) == 0
    capsys.readouterr()
    command = [sys.executable, "-m", "ce_cli", *args]
    command += [a for n in names for a in ("--plot", str(there / n))]
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    env.pop("SOURCE_DATE_EPOCH", None)
    done = subprocess.run(command, capture_output=True, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    for name in names:
        assert (here / name).read_bytes() == (there / name).read_bytes(), name


def test_plot_shows_class_names_as_typed(tmp_path: Path, capsys) -> None:
    """A class named like mathtext ($x^$) or with XML in it does not break the figure."""
    names = ["$x^$", "<b>&--></b>", "猫 🐈"]  # mathtext, XML, glyphs the font lacks
    path = _odd_names(tmp_path, names)
    out = tmp_path / "odd.svg"
    code = main([str(path), "--prob-cols", ",".join(names), "--plot", str(out), "-q"])
    err = capsys.readouterr().err
    assert code == 0 and err == ""
    ET.fromstring(out.read_bytes())


def test_compare_plot_draws_both_models_on_one_diagram(tmp_path: Path, capsys) -> None:
    out = tmp_path / "both.svg"
    a = SAMPLES / "multiclass.parquet"
    code = main(
        ["compare", str(a), str(a), "--bootstrap", "20", "--plot", str(out), "--format", "json"]
    )
    data = capsys.readouterr().out
    assert code == 0 and '"calibration"' in data
    svg = out.read_text()
    assert "A = " in svg and "B = " in svg
    ET.fromstring(svg)


def test_compare_html_shows_both_models_on_one_diagram(tmp_path: Path, capsys) -> None:
    a = SAMPLES / "multiclass.parquet"
    out = tmp_path / "compare.html"
    code = main(
        ["compare", str(a), str(a), "--bootstrap", "20", "--format", "html", "-o", str(out)]
    )
    assert code == 0, capsys.readouterr().err
    page = out.read_text()
    _assert_self_contained(page)
    text = " ".join(_parse(page).text)
    assert "Paired differences" in text and "no significant difference" in text
    assert page.count('<circle class="point s0"') > 1 and page.count('<circle class="point s1"') > 1
    for svg in re.findall(r"<svg.*?</svg>", page, flags=re.S):
        ET.fromstring(svg)


def test_compare_refuses_an_unknown_format_before_reading(tmp_path: Path, capsys) -> None:
    # compare writes every format evaluate does (tests/test_compare.py); others fail first.
    missing = str(tmp_path / "missing.parquet")
    assert main(["compare", missing, missing, "--format", "xml"]) == 2
    assert "xml" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["fig.jpg", "fig", "-"])
def test_plot_with_an_unknown_extension_fails_in_one_line(bad: str, capsys) -> None:
    code = main([str(SAMPLES / "binary.csv"), "--plot", bad, "-q"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and ".png, .svg or .pdf" in err


def test_plot_refuses_a_path_another_output_writes(tmp_path: Path, capsys) -> None:
    fig = str(tmp_path / "fig.svg")
    for extra in (["-o", fig], ["--plot", fig], ["--per-sample", fig]):
        code = main([str(SAMPLES / "binary.csv"), "--plot", fig, *extra, "-q"])
        out, err = capsys.readouterr()
        assert code == 2 and out == "", extra
        assert "another output writes too" in err and err.count("\n") == 1
    assert not os.path.exists(fig)


class _NoMatplotlib:
    @staticmethod
    def find_spec(name: str, path: object = None, target: object = None) -> None:
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


@pytest.fixture
def no_matplotlib(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "meta_path", [_NoMatplotlib(), *sys.meta_path])


@pytest.mark.usefixtures("no_matplotlib")
def test_without_matplotlib_plot_says_how_to_install_before_reading_input(
    tmp_path: Path, capsys
) -> None:
    missing = tmp_path / "not-there.parquet"  # never read: the check comes first
    code = main([str(missing), "--plot", str(tmp_path / "fig.png"), "-q"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err == (
        "ce-eval: error: --plot needs matplotlib, which is not installed; "
        "run pip install 'ce-eval[plot]'\n"
    )
    assert not (tmp_path / "fig.png").exists()
    code = main(["compare", str(missing), str(missing), "--plot", str(tmp_path / "f.svg")])
    assert code == 2 and "pip install 'ce-eval[plot]'" in capsys.readouterr().err


@pytest.mark.usefixtures("no_matplotlib")
def test_without_matplotlib_everything_else_works(tmp_path: Path, capsys) -> None:
    for fmt in ("table", "json", "markdown", "junit", "html"):
        assert main([str(SAMPLES / "binary.csv"), "--format", fmt, "-q"]) == 0
    capsys.readouterr()
    assert "matplotlib" not in sys.modules


# --- Markdown -----------------------------------------------------------------------------------


def test_markdown_links_a_plot_written_beside_the_report(tmp_path: Path, capsys) -> None:
    (tmp_path / "figs").mkdir()
    report = tmp_path / "summary.md"
    args = [str(SAMPLES / "binary.csv"), "--format", "markdown", "-o", str(report), "-q"]
    assert main([*args, "--plot", str(tmp_path / "figs" / "diagram 1.png")]) == 0
    capsys.readouterr()
    text = report.read_text()
    assert "![Reliability diagram and losses](figs/diagram%201.png)" in text
    assert text.index("![") > text.index("### Calibration")


def test_markdown_images_are_the_png_and_svg_plots_in_the_reports_directory(
    tmp_path: Path,
) -> None:
    from ce_cli.cli.output import _images_beside

    out = str(tmp_path / "r" / "summary.md")
    plots = [
        str(tmp_path / "r" / "a.png"),
        str(tmp_path / "r" / "sub" / "b.svg"),
        str(tmp_path / "r" / "c.pdf"),  # not an image a Markdown viewer shows
        str(tmp_path / "elsewhere.png"),  # not beside the report
    ]
    assert _images_beside(out, plots) == ["a.png", "sub/b.svg"]
    assert _images_beside(None, plots) == [] and _images_beside("-", plots) == []
    assert _images_beside(out, None) == []


def test_markdown_without_images_is_unchanged(multiclass: dict[str, Any]) -> None:
    assert render_markdown(multiclass) == render_markdown(multiclass, images=())
    assert "![" not in render_markdown(multiclass)


# --- properties -------------------------------------------------------------------------------

_ALLOWED_TAGS = {
    "html", "head", "meta", "title", "style", "body", "main", "header", "h1", "h2", "h3", "p",
    "span", "div", "section", "table", "thead", "tbody", "tr", "th", "td", "code", "dl", "dt",
    "dd", "footer", "svg", "line", "rect", "text", "circle", "polyline",
}  # fmt: skip


@given(names=st.lists(st.text(min_size=1, max_size=12), min_size=2, max_size=4, unique=True))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_html_from_any_names_has_only_our_tags_and_shows_the_names(names: list[str]) -> None:
    base = _BASE_REPORT
    report = copy.deepcopy(base)
    report["source"] = names[0]
    report["detected"]["classes"] = names
    report["per_class"] = [dict(base["per_class"][0], **{"class": n}) for n in names]
    report["worst"] = [{"row": 1, "id": names[-1], "label": names[0], "loss": 1.5}]
    page = render_html(report)
    parsed = _parse(page)
    assert set(parsed.tags) <= _ALLOWED_TAGS
    assert {name for name, _ in parsed.attributes} <= {
        "lang", "charset", "name", "content", "class", "role", "viewbox", "width", "height",
        "aria-label", "x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "r", "points",
        "text-anchor", "transform",
    }  # fmt: skip
    text = "".join(parsed.text)
    for name in names:
        assert printable(name) in text


@given(
    points=st.lists(
        st.tuples(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1e6, allow_subnormal=False)),
        max_size=30,
    )
)
@settings(max_examples=100, deadline=None)
def test_text_diagram_has_fixed_width_and_one_point_per_cell(
    points: list[tuple[float, float, float]],
) -> None:
    bins = [
        {"lower": c, "upper": c, "weight": w, "confidence": c, "accuracy": a} for c, a, w in points
    ]
    text = reliability_text({"bins": bins}).plain
    lines = text.splitlines()
    assert all(len(line) <= 80 for line in lines)
    cells = {(round(a * (HEIGHT - 1)), round(c * (WIDTH - 1))) for c, a, w in points if w > 0}
    assert sum(line.count("●") for line in _grid(text)) == len(cells)
