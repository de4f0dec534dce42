"""A corpus of bad inputs: each ends with exit 2, one line on stderr naming the problem, no
traceback, nothing on stdout, and an existing output file left untouched."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ce_cli.cli import main

GOOD_CSV = "id,label,p_a,p_b,p_c\nr1,0,0.2,0.3,0.5\nr2,1,0.1,0.8,0.1\nr3,2,0.3,0.3,0.4\n"


def write(name: str, content: str | bytes) -> Callable[[Path], Path]:
    def make(root: Path) -> Path:
        path = root / name
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return path

    return make


def csv_with(row: int, column: str, value: str, rows: int = 10) -> Callable[[Path], Path]:
    """A good 3-class CSV of ``rows`` rows with one cell (1-based data row) replaced."""

    def make(root: Path) -> Path:
        lines = ["label,p_a,p_b,p_c"]
        for i in range(1, rows + 1):
            cells = {"label": str(i % 3), "p_a": "0.2", "p_b": "0.3", "p_c": "0.5"}
            if i == row:
                cells[column] = value
            lines.append(",".join(cells[c] for c in ("label", "p_a", "p_b", "p_c")))
        path = root / "bad.csv"
        path.write_text("\n".join(lines) + "\n")
        return path

    return make


def parquet(table: dict[str, object], name: str = "bad.parquet") -> Callable[[Path], Path]:
    def make(root: Path) -> Path:
        path = root / name
        pq.write_table(pa.table(table), path)
        return path

    return make


def truncated_parquet(root: Path) -> Path:
    good = root / "good.parquet"
    pq.write_table(pa.table({"label": [0, 1] * 50, "p_a": [0.5] * 100, "p_b": [0.5] * 100}), good)
    data = good.read_bytes()
    path = root / "truncated.parquet"
    path.write_bytes(data[: len(data) // 2])
    return path


def late_contradiction(root: Path) -> Path:
    n = 70_000
    rng = np.random.default_rng(0)
    p = rng.dirichlet([1, 1, 1], n)
    p[68_999] = [3.0, -1.0, -1.0]  # data row 69,000: not a probability
    path = root / "late.parquet"
    pq.write_table(
        pa.table({"label": rng.integers(0, 3, n), **{f"p_{j}": p[:, j] for j in range(3)}}), path
    )
    return path


def ragged_list(root: Path) -> Path:
    path = root / "ragged.parquet"
    pq.write_table(pa.table({"label": [0, 1, 1], "probs": [[0.5, 0.5], [0.2, 0.8], [1.0]]}), path)
    return path


def directory(root: Path) -> Path:
    (root / "empty_dir").mkdir()
    return root / "empty_dir"


CASES: list[tuple[str, Callable[[Path], Path], list[str], str]] = [
    ("empty csv", write("empty.csv", ""), [], "empty"),
    ("empty parquet", write("empty.parquet", b""), [], "parquet"),
    ("header only", write("header.csv", "label,p_a,p_b\n"), [], "no data rows"),
    ("truncated parquet", truncated_parquet, [], "parquet"),
    ("csv text named parquet", write("text.parquet", GOOD_CSV), [], "parquet"),
    ("binary garbage csv", write("garbage.csv", bytes(range(256)) * 8), [], "garbage.csv"),
    ("binary garbage parquet", write("garbage.parquet", b"PAR1" + bytes(300)), [], "parquet"),
    ("garbage jsonl", write("garbage.jsonl", "{not json\n"), [], "garbage.jsonl"),
    ("garbage arrow", write("garbage.arrow", b"ARROW1" + bytes(100)), [], "arrow"),
    (
        "ragged csv row",
        write("ragged.csv", "label,p_a,p_b\n0,0.5,0.5\n1,0.5,0.5,0.1\n"),
        [],
        "fields",
    ),
    ("ragged list column", ragged_list, [], "row 3"),
    ("nan probability", csv_with(4, "p_b", "nan"), [], "row 4"),
    ("inf logit", csv_with(5, "p_a", "inf"), ["--logits"], "row 5"),
    ("empty cell", csv_with(6, "p_c", ""), [], "row 6"),
    ("text in a number column", csv_with(7, "p_b", "abc"), [], "row 7"),
    ("probability above 1 with --probs", csv_with(3, "p_a", "1.5"), ["--probs"], "outside [0, 1]"),
    ("negative probability", csv_with(2, "p_a", "-0.2"), ["--probs"], "row 2"),
    ("row not summing to 1", csv_with(8, "p_a", "0.0"), ["--probs"], "row 8"),
    ("ambiguous predictions", csv_with(1, "p_a", "0.0"), [], "--logits or --probs"),
    ("late contradiction", late_contradiction, [], "row 69000"),
    ("label out of range", csv_with(2, "label", "5"), [], "row 2"),
    ("non-integer label", csv_with(3, "label", "1.5"), [], "whole number"),
    ("missing label", csv_with(4, "label", ""), [], "row 4"),
    (
        "unknown class name",
        parquet({"label": ["cat", "zebra"], "p_cat": [0.4, 0.3], "p_dog": [0.6, 0.7]}),
        [],
        "zebra",
    ),
    ("binary label 2", parquet({"label": [0, 2], "p_x": [0.4, 0.3]}), [], "row 2"),
    (
        "negative sample weight",
        parquet({"label": [0, 1], "p_a": [0.4, 0.3], "p_b": [0.6, 0.7], "w": [1.0, -1.0]}),
        ["--weight-col", "w"],
        "negative",
    ),
    (
        "nan sample weight",
        parquet({"label": [0, 1], "p_a": [0.4, 0.3], "p_b": [0.6, 0.7], "w": [1.0, float("nan")]}),
        ["--weight-col", "w"],
        "row 2",
    ),
    (
        "all weights zero",
        parquet({"label": [0, 1], "p_a": [0.4, 0.3], "p_b": [0.6, 0.7], "w": [0.0, 0.0]}),
        ["--weight-col", "w"],
        "sum to 0",
    ),
    ("missing label column", write("x.csv", GOOD_CSV), ["--label-col", "truth"], "truth"),
    ("prob glob matches nothing", write("x.csv", GOOD_CSV), ["--prob-cols", "q_*"], "q_*"),
    ("missing weight column", write("x.csv", GOOD_CSV), ["--weight-col", "w"], "'w'"),
    ("no label column at all", write("x.csv", "p_a,p_b\n0.5,0.5\n"), [], "label"),
    ("gamma negative", write("x.csv", GOOD_CSV), ["--gamma", "-1"], "--gamma"),
    ("alpha above 1", write("x.csv", GOOD_CSV), ["--loss", "focal", "--alpha", "1.5"], "--alpha"),
    ("smoothing 1", write("x.csv", GOOD_CSV), ["--smoothing", "1.0"], "--smoothing"),
    ("bins 0", write("x.csv", GOOD_CSV), ["--bins", "0"], "--bins"),
    ("base 3", write("x.csv", GOOD_CSV), ["--base", "3"], "--base"),
    ("class weights count", write("x.csv", GOOD_CSV), ["--class-weights", "1,2"], "3 classes"),
    (
        "class weights text",
        write("x.csv", GOOD_CSV),
        ["--class-weights", "a,b,c"],
        "--class-weights",
    ),
    (
        "multilabel without targets",
        write("x.csv", GOOD_CSV),
        ["--task", "multilabel"],
        "--target-cols",
    ),
    (
        "alpha with multiclass",
        write("x.csv", GOOD_CSV),
        ["--loss", "focal", "--alpha", "0.25"],
        "multi-class",
    ),
    (
        "soft targets not summing to 1",
        parquet({"p_a": [0.5, 0.5], "p_b": [0.5, 0.5], "t_a": [0.5, 0.2], "t_b": [0.1, 0.3]}),
        ["--target-cols", "t_*"],
        "sum to 1",
    ),
    (
        "target outside [0, 1]",
        parquet({"p_a": [0.5, 0.5], "p_b": [0.5, 0.5], "t_a": [1.5, 0.0], "t_b": [-0.5, 1.0]}),
        ["--target-cols", "t_*"],
        "outside [0, 1]",
    ),
    ("unknown format", write("x.csv", GOOD_CSV), ["--format", "xml"], "--format"),
    ("unknown option", write("x.csv", GOOD_CSV), ["--frobnicate"], "frobnicate"),
    ("file does not exist", lambda root: root / "nope.parquet", [], "no such file"),
    ("a directory with no parquet", directory, [], "no Parquet files"),
    ("unknown extension", write("x.xyz", GOOD_CSV), [], "--input-format"),
    ("duplicate header names", write("dup.csv", "label,p_a,p_a\n0,0.5,0.5\n"), [], "twice"),
    ("bad gate", write("x.csv", GOOD_CSV), ["--max", "ece"], "METRIC=VALUE"),
    ("gate on unknown metric", write("x.csv", GOOD_CSV), ["--max", "zzz=1"], "zzz"),
    ("missing baseline", write("x.csv", GOOD_CSV), ["--baseline", "missing.json"], "baseline"),
    (
        "labels file with missing id",
        write("x.csv", GOOD_CSV),
        ["--labels", "x.csv", "--id-col", "nope"],
        "nope",
    ),
    ("ci out of range", write("x.csv", GOOD_CSV), ["--ci", "1.5"], "--ci"),
    ("gzip that is not gzip", write("x.csv.gz", b"\x1f\x8bnot really gzip"), [], "x.csv.gz"),
    (
        "per-sample with a bad extension",
        write("x.csv", GOOD_CSV),
        ["--per-sample", "out.xlsx"],
        "--per-sample",
    ),
]


@pytest.mark.parametrize(("name", "make", "args", "fragment"), CASES, ids=[c[0] for c in CASES])
def test_bad_input(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    make: Callable[[Path], Path],
    args: list[str],
    fragment: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    path = make(tmp_path)
    existing = tmp_path / "out.json"
    existing.write_text("OLD")
    code = main([str(path), *args, "-o", str(existing), "-q"])
    out, err = capsys.readouterr()
    assert code == 2, (name, err)
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("ce-eval: error: ")
    assert "Traceback" not in err
    assert fragment.lower() in lines[0].lower(), lines[0]
    assert existing.read_text() == "OLD"
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".ce-eval-")]
    assert leftovers == []


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 30


def test_gzip_csv_bad_value_names_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "x.csv.gz"
    path.write_bytes(gzip.compress(b"label,p_a,p_b\n0,0.5,0.5\n1,oops,0.5\n"))
    assert main([str(path)]) == 2
    assert "row 2" in capsys.readouterr().err
