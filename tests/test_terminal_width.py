"""An 80-column terminal: intervals never wrap mid-number, --help examples never wrap
mid-command, compare's table fits, and piped text has no trailing spaces."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ce_cli.api import evaluate
from ce_cli.cli.main import main
from ce_cli.judge.compare import compare
from ce_cli.render.compare_table import render_compare_table
from ce_cli.render.table import render_table

CE_EVAL = Path(sys.executable).with_name("ce-eval")
RNG = np.random.default_rng(80)


def _file(path: Path, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(3), 400)
    labels = rng.integers(0, 3, 400)
    pq.write_table(
        pa.table({"label": labels, **{f"p_{name}": probs[:, j] for j, name in enumerate("abc")}}),
        path,
    )
    return str(path)


@pytest.mark.parametrize("command", [[], ["compare"]])
def test_help_fits_80_columns_and_keeps_each_example_on_its_lines(command: list[str]) -> None:
    env = {**os.environ, "COLUMNS": "80", "NO_COLOR": "1"}
    out = subprocess.run(
        [str(CE_EVAL), *command, "--help"], capture_output=True, env=env, check=True
    ).stdout.decode()
    lines = out.splitlines()
    assert all(len(line) <= 80 for line in lines), [line for line in lines if len(line) > 80]
    examples = out[out.index("Example") :]
    commands = [line.strip() for line in examples.splitlines() if "ce-eval " in line]
    assert commands
    for line in commands:  # a command line starts a command, or continues one after a "\"
        assert line.startswith(("ce-eval ", "cat ")), line
    continued = [line for line in examples.splitlines() if line.rstrip().endswith("\\")]
    for line in continued:
        following = examples.splitlines()[examples.splitlines().index(line) + 1]
        assert following.startswith(" " * 6) and following.strip().startswith("--"), following


def test_table_intervals_never_wrap_at_80_columns(tmp_path: Path) -> None:
    report = evaluate(_file(tmp_path / "p.parquet"), ci=0.95, bootstrap=50)
    text = render_table(report, width=80)
    assert all(len(line) <= 80 for line in text.splitlines())
    summary = text[text.index("Summary") : text.index("Per class")]
    intervals = [line for line in summary.splitlines() if "[" in line or "]" in line]
    assert len(intervals) >= 10
    for line in intervals:  # each interval whole on its line, numbers unbroken
        assert re.search(r"\[-?[\d.]+(e[+-]\d+)?( %)?, -?[\d.]+(e[+-]\d+)?( %)?\]", line), line


def test_piped_table_has_no_trailing_spaces(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _file(tmp_path / "p.parquet")
    assert main([path, "-q", "--top", "5", "--ci", "0.9", "--bootstrap", "20"]) == 0
    out = capsys.readouterr().out
    assert out.strip()
    assert not [line for line in out.splitlines() if line != line.rstrip()]


def test_compare_table_fits_80_columns(tmp_path: Path) -> None:
    a = _file(tmp_path / "a_model_with_a_long_name.parquet", seed=0)
    b = _file(tmp_path / "b.parquet", seed=0)
    result = compare(a, b, replicates=50)
    text = render_compare_table(result, width=80)
    lines = text.splitlines()
    assert all(len(line) <= 80 for line in lines), lines
    assert not [line for line in lines if line != line.rstrip()]
    for name in ("loss", "cross_entropy", "brier", "accuracy"):
        row = next(line for line in lines if line.startswith(f" {name} "))
        assert "…" not in row and row.count("[") == 1 and row.count("]") == 1, row
    # No value and no verdict word is cut ("descri…" was, for descriptive metrics).
    assert "…" not in text, text
    assert " descriptive" in text and " no interval" in text


def test_table_at_80_columns_never_cuts_a_number() -> None:
    # Rich shrinks a crowded column with an ellipsis; in a number column "0.0452…" reads as a
    # number. The number columns keep their widest cell and the headers give way.
    sample = Path(__file__).resolve().parent.parent / "sample_data" / "binary.csv"
    text = render_table(evaluate(str(sample)), width=80)
    assert all(len(line) <= 80 for line in text.splitlines())
    per_class = text[text.index("Per class") : text.index("Calibration")]
    rows = [line for line in per_class.splitlines() if line.strip().startswith(("0 ", "1 "))]
    assert len(rows) == 2
    for line in rows:
        assert "…" not in line, line
        assert all(re.fullmatch(r"[\d.,]+|%", cell) for cell in line.split()[1:]), line


def test_compare_table_of_two_different_models_cuts_no_verdict_at_80_columns(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 2000)
    z = rng.normal(size=(2000, 3))
    z[np.arange(2000), labels] += 1.0
    paths = []
    for name, scale in (("a", 1.0), ("b", 0.6)):  # B underconfident: verdicts of every kind
        p = np.exp(z * scale)
        p /= p.sum(axis=1, keepdims=True)
        path = tmp_path / f"{name}.parquet"
        pq.write_table(pa.table({"label": labels, **{f"p_{j}": p[:, j] for j in range(3)}}), path)
        paths.append(str(path))
    text = render_compare_table(compare(*paths, replicates=50), width=80)
    assert all(len(line) <= 80 for line in text.splitlines()), text
    assert "…" not in text, text
    for verdict in ("A better", "descriptive", "no interval"):
        assert verdict in text, text
