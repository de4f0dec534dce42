"""Language-model scale: batches sized by values, a decision window of a few rows, and
vocabularies of 128k classes end to end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

import ce_cli
import ce_cli.api
import ce_cli.engine.batch
import ce_cli.engine.kernel
import ce_cli.io.batching
import ce_cli.io.readers
import ce_cli.resolve.converter
from ce_cli.cli.main import main
from ce_cli.io.batching import batch_rows
from ce_cli.io.readers import open_source


def _list_logits(rows: int, width: int, seed: int) -> tuple[np.ndarray, np.ndarray, pa.Array]:
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((rows, width), dtype=np.float32) * 2.0
    labels = rng.integers(0, width, rows)
    z[np.arange(rows), labels] += 5.0
    offsets = pa.array(np.arange(0, (rows + 1) * width, width, dtype=np.int32))
    return z, labels, pa.ListArray.from_arrays(offsets, pa.array(z.reshape(-1)))


def _reference_ce(z: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per-row cross-entropy from logits in float64, by the textbook log-sum-exp."""
    x = z.astype(np.float64)
    m = x.max(axis=1)
    lse = m + np.log(np.exp(x - m[:, None]).sum(axis=1))
    return np.asarray(lse - x[np.arange(len(labels)), labels])


def test_batch_rows_hold_a_few_million_values_whatever_the_width() -> None:
    narrow = ce_cli.io.batching.BATCH_VALUES // ce_cli.io.batching.BATCH_ROWS
    assert batch_rows(narrow) == ce_cli.io.batching.BATCH_ROWS  # narrow rows: the row cap
    assert batch_rows(32_001) == ce_cli.io.batching.BATCH_VALUES // 32_001
    assert batch_rows(256_001) * 256_001 <= ce_cli.io.batching.BATCH_VALUES
    assert batch_rows(10**9) == 1  # a row wider than a batch is still read, alone


def test_every_reader_cuts_wide_rows_into_batches_of_at_most_the_value_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 1,000-value list column in one row group of 60 rows, an Arrow file of one 60-row
    batch, 300 CSV columns, an in-memory table: each is read in batches of at most
    BATCH_VALUES values (a row of 1,001 values: 9 rows for 10,000 values)."""
    monkeypatch.setattr(ce_cli.io.batching, "BATCH_VALUES", 10_000)
    _, labels, lists = _list_logits(60, 1000, 1)
    table = pa.table({"label": labels, "logits": lists})
    pq.write_table(table, tmp_path / "wide.parquet")
    feather.write_feather(table, tmp_path / "wide.arrow", chunksize=60)
    rng = np.random.default_rng(2)
    p = rng.dirichlet(np.ones(300), 60)
    csv_table = pa.table({"label": labels % 300, **{f"p_{j}": p[:, j] for j in range(300)}})
    pcsv.write_csv(csv_table, tmp_path / "wide.csv")
    for name, per_row in (("wide.parquet", 1001), ("wide.arrow", 1001), ("wide.csv", 301)):
        sizes = [b.num_rows for b in open_source(str(tmp_path / name)).batches()]
        assert sum(sizes) == 60
        assert max(sizes) == 10_000 // per_row, name
    seen: list[int] = []
    real = ce_cli.engine.batch.kernel

    def spy(typed: Any, *args: Any) -> Any:
        seen.append(len(typed))
        return real(typed, *args)

    with mock.patch.object(ce_cli.engine.batch, "kernel", spy):
        ce_cli.evaluate(table)
    assert sum(seen) == 60 and max(seen) == 9


def test_the_decision_window_of_a_wide_list_column_is_a_few_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The window is cut to window_rows(width) rows before anything is joined: here 5 rows of
    2,000 values out of 400, where it used to take up to 65,536 rows whatever the width."""
    monkeypatch.setattr(ce_cli.resolve.converter, "WINDOW_VALUES", 10_000)
    monkeypatch.setattr(ce_cli.io.batching, "BATCH_VALUES", 20_000)
    z, labels, lists = _list_logits(400, 2000, 3)
    path = tmp_path / "tokens.parquet"
    pq.write_table(pa.table({"label": labels, "logits": lists}), path, row_group_size=400)
    windows: list[int] = []
    real = ce_cli.resolve.converter.Converter.decide

    def spy(self: ce_cli.resolve.converter.Converter, window: Any) -> Any:
        windows.append(sum(b.num_rows for b in window))
        return real(self, window)

    with mock.patch.object(ce_cli.resolve.converter.Converter, "decide", spy):
        report = ce_cli.evaluate(str(path))
    assert windows == [5]
    assert report.n_samples == 400
    assert report.metrics["cross_entropy"] == pytest.approx(
        _reference_ce(z, labels).mean(), rel=1e-12
    )


def _numbers(report: ce_cli.Report) -> dict[str, Any]:
    out = json.loads(json.dumps(report.to_dict()))
    return {k: out[k] for k in ("n_samples", "metrics", "per_class", "calibration")}


def _assert_same(a: Any, b: Any, where: str = "") -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            _assert_same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert np.isclose(a, b, rtol=1e-12, atol=1e-14), (where, a, b)
    else:
        assert a == b, (where, a, b)


@pytest.mark.parametrize("budget", [1, 3_000, 50_000])
def test_a_wide_list_column_gives_the_same_report_whatever_the_batch_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, budget: int
) -> None:
    """Rows of 2,000 logits read one row a batch, a few rows a batch, or the whole file."""
    z, labels, lists = _list_logits(120, 2000, 4)
    labels[::7] = -100
    path = tmp_path / "tokens.parquet"
    pq.write_table(pa.table({"label": labels, "logits": lists}), path, row_group_size=50)
    options = {"ignore_label": "-100", "bins": 10}
    whole = _numbers(ce_cli.evaluate(str(path), **options))
    monkeypatch.setattr(ce_cli.io.batching, "BATCH_VALUES", budget)
    _assert_same(whole, _numbers(ce_cli.evaluate(str(path), **options)))
    keep = labels != -100
    assert whole["metrics"]["cross_entropy"] == pytest.approx(
        _reference_ce(z[keep], labels[keep]).mean(), rel=1e-12
    )


def test_a_128k_vocabulary_export_works_end_to_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A few tokens of a 128,000-token vocabulary, float32 logits in one list column, with
    padding labelled -100: the command's JSON report against a float64 reference."""
    vocab = 128_000
    z, labels, lists = _list_logits(6, vocab, 5)
    labels[2] = -100
    path = tmp_path / "tokens.parquet"
    pq.write_table(pa.table({"label": labels, "logits": lists}), path)
    code = main([str(path), "--ignore-label", "-100", "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    report = json.loads(out)
    keep = labels != -100
    ce = _reference_ce(z[keep], labels[keep])
    assert report["n_samples"] == 5 and report["counts"]["ignored_rows"] == 1
    assert report["detected"]["predictions"] == "logits"
    assert report["metrics"]["cross_entropy"] == pytest.approx(ce.mean(), rel=1e-12)
    assert report["metrics"]["perplexity"] == pytest.approx(np.exp(ce.mean()), rel=1e-12)
    assert len(report["per_class"]) == vocab
    first = int(labels[keep][0])
    assert report["per_class"][first]["support"] >= 1


@pytest.mark.parametrize("kind", ["list", "large_list", "fixed_size_list"])
def test_rows_left_out_of_a_list_column_are_taken_as_pyarrow_takes_them(kind: str) -> None:
    """The NumPy copy of kept list rows equals pyarrow's take, sliced arrays included; ragged
    rows and nulls go to pyarrow."""
    from ce_cli.resolve.arrow import _take_list_rows, _take_rows

    values = pa.array(np.arange(60, dtype=np.float32))
    if kind == "fixed_size_list":
        lists = pa.FixedSizeListArray.from_arrays(values, 6)
    else:
        offset_type = np.int64 if kind == "large_list" else np.int32
        cls = pa.LargeListArray if kind == "large_list" else pa.ListArray
        lists = cls.from_arrays(pa.array(np.arange(0, 61, 6, dtype=offset_type)), values)
    batch = pa.record_batch([pa.array(np.arange(10)), lists], names=["label", "p"]).slice(2, 7)
    keep = np.array([0, 2, 3, 6])
    taken = _take_rows(batch, keep)
    assert taken.equals(batch.take(pa.array(keep)))
    assert taken.column(1).type == lists.type
    ragged = pa.array([[1.0, 2.0], [3.0], [4.0, 5.0]], pa.list_(pa.float64()))
    assert _take_list_rows(ragged, np.array([0, 2])) is None
    holes = pa.array([[1.0, None], [3.0, 4.0]], pa.list_(pa.float64()))
    assert _take_list_rows(holes, np.array([1])) is None


@pytest.mark.parametrize("layout", ["labels", "weighted", "soft", "probabilities"])
def test_wide_rows_summed_on_the_calling_thread_give_the_per_task_numbers(
    monkeypatch: pytest.MonkeyPatch, layout: str
) -> None:
    """Rows too few per task for an accumulator of their own (a large vocabulary) are summed
    on the calling thread, their classwise-view sums kept sparse: forced here on 12 classes,
    every number of the report equals the per-task path's (to rounding)."""
    rng = np.random.default_rng(11)
    n, k = 3000, 12
    z = rng.standard_normal((n, k)) * 2.0
    labels = rng.integers(0, k, n)
    options: dict[str, Any] = {"bins": 10}
    columns: dict[str, Any] = {f"logit_{j}": z[:, j] for j in range(k)}
    if layout == "probabilities":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        columns = {f"p_{j}": (e / e.sum(axis=1, keepdims=True))[:, j] for j in range(k)}
    if layout == "soft":
        soft = rng.dirichlet(np.ones(k), n)
        columns.update({f"t_{j}": soft[:, j] for j in range(k)})
        options["target_cols"] = "t_*"
    else:
        columns["label"] = labels
    if layout == "weighted":
        columns["w"] = rng.uniform(0.5, 2.0, n)
        options["weight_col"] = "w"
    table = pa.table(columns)
    per_task = _numbers(ce_cli.evaluate(table, **options))
    monkeypatch.setattr(ce_cli.engine.kernel, "MIN_ACCUMULATOR_ROWS", 10**9)
    monkeypatch.setattr(ce_cli.engine.kernel, "DEFERRED_ROWS", 700)
    deferred = ce_cli.evaluate(table, **options)
    _assert_same(per_task, _numbers(deferred))
    assert deferred.metrics["ece_classwise"] == pytest.approx(
        per_task["metrics"]["ece_classwise"], rel=1e-12
    )
