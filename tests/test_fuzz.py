"""Fuzzing: random tables and random bytes never produce a traceback or a wrong exit code.

Any input ends in exit 0 (a report) or 2 (one line on stderr); exit 3 would be a bug.
"""

from __future__ import annotations

import math
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ce_cli.cli import main

NAMES = ["label", "y", "p_a", "p_b", "p_c", "logit_a", "logit_b", "w", "id", "x"]
VALUES = st.one_of(
    st.none(),
    st.integers(-3, 5),
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.floats(0, 1),
    st.sampled_from(["a", "b", "cat", "", "=1+1", "nan"]),
)
FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _check(code: int, err: str) -> None:
    assert code in (0, 2), err
    assert "Traceback" not in err
    if code == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("ce-eval: error: "), err


def _column(values: list[object]) -> pa.Array:
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else str(v) for v in values])


@st.composite
def tables(draw: st.DrawFn) -> pa.Table:
    names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=6, unique=True))
    rows = draw(st.integers(0, 12))
    columns = {}
    for name in names:
        values = draw(st.lists(VALUES, min_size=rows, max_size=rows))
        if name.startswith("p_") and draw(st.booleans()):
            values = [draw(st.floats(0, 1)) for _ in range(rows)]
        columns[name] = _column(values)
    return pa.table(columns)


OPTIONS = st.lists(
    st.sampled_from(
        [["--logits"], ["--probs"], ["--task", "binary"], ["--task", "multilabel"],
         ["--target-cols", "p_*"], ["--weight-col", "w"], ["--loss", "focal"],
         ["--class-weights", "balanced"], ["--smoothing", "0.1"], ["--on-nan", "drop"],
         ["--ignore-label", "1"], ["--renormalize"], ["--ci", "0.9", "--bootstrap", "10"]]
    ),
    max_size=3,
)  # fmt: skip


@FUZZ
@given(table=tables(), options=OPTIONS, fmt=st.sampled_from(["csv", "parquet"]))
def test_random_tables(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], table, options, fmt
) -> None:
    path = tmp_path / f"t.{fmt}"
    if fmt == "csv":
        pcsv.write_csv(table, path)
    else:
        pq.write_table(table, path)
    code = main([str(path), "--format", "json", "-q", *[a for o in options for a in o]])
    _out, err = capsys.readouterr()
    _check(code, err)


@FUZZ
@given(
    data=st.binary(max_size=400),
    suffix=st.sampled_from([".csv", ".parquet", ".jsonl", ".arrow", ".csv.gz"]),
)
def test_random_bytes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data: bytes, suffix: str
) -> None:
    path = tmp_path / f"b{suffix}"
    path.write_bytes(data)
    code = main([str(path), "-q"])
    _out, err = capsys.readouterr()
    _check(code, err)


def test_finite_report_from_extreme_but_valid_logits(tmp_path: Path, capsys) -> None:
    path = tmp_path / "x.csv"
    path.write_text("label,logit_a,logit_b\n0,1e300,-1e300\n1,1e300,-1e300\n")
    code = main([str(path), "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    import json

    assert all(v is None or math.isfinite(v) for v in json.loads(out)["metrics"].values())
