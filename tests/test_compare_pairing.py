"""``ce-eval compare`` refuses rows that do not pair (row count, labels, ids, task, classes),
naming the first mismatch, and pairs by position whatever the two files' batch sizes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from ce_cli.cli.main import main

N = 300
RNG = np.random.default_rng(21)
LABELS = RNG.integers(0, 3, N)


def _write(
    path: Path,
    probs: np.ndarray,
    labels: np.ndarray,
    ids: np.ndarray | None = None,
    row_group: int | None = None,
) -> str:
    columns: dict[str, object] = {}
    if ids is not None:
        columns["id"] = ids
    columns["label"] = labels
    columns |= {f"p_{j}": probs[:, j] for j in range(probs.shape[1])}
    table = pa.table(columns)
    if path.suffix == ".csv":
        pcsv.write_csv(table, path)
    else:
        pq.write_table(table, path, row_group_size=row_group)
    return str(path)


def _probs(k: int = 3) -> np.ndarray:
    return RNG.dirichlet(np.ones(k), N)


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["compare", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _refused(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code, out, err = _run(capsys, *args)
    assert code == 2, err
    assert out == "" and err.count("\n") == 1 and "Traceback" not in err
    return err


def test_shuffled_rows_without_ids_are_refused_naming_the_first_mismatch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    order = RNG.permutation(N)
    a = _write(tmp_path / "a.csv", _probs(), LABELS)
    b = _write(tmp_path / "b.csv", _probs()[order], LABELS[order])
    err = _refused(capsys, a, b)
    first = int(np.argmax(LABELS[order] != LABELS))
    assert f"row {first + 1} of the first" in err and "do not pair" in err


def test_shuffled_rows_with_an_id_column_are_refused_by_position_and_paired_by_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = np.arange(N)
    order = RNG.permutation(N)
    labels = np.zeros(N, dtype=int)  # the labels alone cannot tell
    a = _write(tmp_path / "a.csv", _probs(), labels, ids)
    b = _write(tmp_path / "b.csv", _probs()[order], labels[order], ids[order])
    err = _refused(capsys, a, b)
    assert "id" in err and "--id-col" in err
    code, out, err = _run(capsys, a, b, "--id-col", "id", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["paired_by"] == "id"


def test_a_different_class_count_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = _write(tmp_path / "a.csv", _probs(3), LABELS)
    b = _write(tmp_path / "b.csv", _probs(4), LABELS)
    err = _refused(capsys, a, b)
    assert "classes differ" in err and "3 in the first" in err and "4 in the second" in err


def test_a_different_row_count_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = _write(tmp_path / "a.csv", _probs(), LABELS)
    b = _write(tmp_path / "b.csv", _probs()[:-1], LABELS[:-1])
    assert "300 and 299 rows" in _refused(capsys, a, b)


def test_duplicate_ids_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ids = np.arange(N)
    dup = ids.copy()
    dup[5] = 4
    a = _write(tmp_path / "a.csv", _probs(), LABELS, ids)
    b = _write(tmp_path / "b.csv", _probs(), LABELS, dup)
    assert "appears twice" in _refused(capsys, a, b, "--id-col", "id")


def test_pairing_by_position_does_not_depend_on_row_groups(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    probs = _probs()
    a = _write(tmp_path / "a.parquet", probs, LABELS, row_group=7)
    b = _write(tmp_path / "b.parquet", probs, LABELS, row_group=100)
    code, out, err = _run(capsys, a, b, "--format", "json")
    assert code == 0, err
    result = json.loads(out)
    for metric in result["metrics"].values():
        # Every metric of the registry is compared; those with a paired interval get [0, 0].
        assert metric["difference"] == 0.0
        if metric["low"] is not None:
            assert metric["low"] == metric["high"] == 0.0
        assert metric["verdict"] in ("no significant difference", "descriptive", "no interval")


def test_by_id_a_row_dropped_for_nan_is_said_to_be_left_out_not_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--on-nan drop leaves row 3 of A out: B's row with that id is said to be left out of the
    first input, not absent from it."""
    (tmp_path / "a.csv").write_text("id,label,p\nx1,0,0.2\nx2,1,0.7\nx3,1,\nx4,0,0.4\n")
    (tmp_path / "b.csv").write_text("id,label,p\nx4,0,0.3\nx3,1,0.6\nx2,1,0.9\nx1,0,0.1\n")
    code = main(
        [
            "compare",
            str(tmp_path / "a.csv"),
            str(tmp_path / "b.csv"),
            "--id-col",
            "id",
            "--on-nan",
            "drop",
            "--bootstrap",
            "20",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "row 2" in err and "'x3'" in err
    assert "left out of the first input (its row 3, by --on-nan drop" in err
    assert "not in the first input" not in err


@pytest.mark.parametrize("side", ["a", "b"])
def test_a_null_id_is_its_own_error_naming_the_row_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], side: str
) -> None:
    good = "key,label,p\nx1,0,0.2\nx2,1,0.7\nx3,1,0.6\n"
    null = "key,label,p\nx1,0,0.2\n,1,0.7\nx3,1,0.6\n"
    (tmp_path / "a.csv").write_text(null if side == "a" else good)
    (tmp_path / "b.csv").write_text(null if side == "b" else good)
    code = main(
        [
            "compare",
            str(tmp_path / "a.csv"),
            str(tmp_path / "b.csv"),
            "--id-col",
            "key",
            "--bootstrap",
            "20",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert f"{side}.csv" in err and "row 2" in err and "id column 'key' is empty (null)" in err
