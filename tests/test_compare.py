"""``ce-eval compare``: two different models on the same rows, for every task and format."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import ce_cli
from ce_cli.cli.main import main
from ce_cli.judge.compare import compare
from ce_cli.report.registry import BY_NAME
from ce_cli.state.bootstrap import poisson_weights

N = 400


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _models(tmp_path: Path, task: str) -> tuple[Path, Path, list[str]]:
    """A sharp model A and a blurred model B of the same rows (with ids, shuffled for B)."""
    rng = np.random.default_rng(7)
    ids = np.arange(N)
    if task == "multilabel":
        truth = rng.normal(size=(N, 3)) * 3
        y = (rng.random((N, 3)) < 1 / (1 + np.exp(-truth))).astype(np.int64)
        za, zb = truth, truth * 0.1 + rng.normal(size=(N, 3))
        cols_a = {f"logit_{j}": za[:, j] for j in range(3)}
        cols_b = {f"logit_{j}": zb[:, j] for j in range(3)}
        common = {f"y_{j}": y[:, j] for j in range(3)}
        options = ["--target-cols", "y_*", "--task", "multilabel"]
    elif task == "binary":
        truth = rng.normal(size=N) * 3
        y = (rng.random(N) < 1 / (1 + np.exp(-truth))).astype(np.int64)
        cols_a = {"p": 1 / (1 + np.exp(-truth))}
        cols_b = {"p": 1 / (1 + np.exp(-(truth * 0.1 + rng.normal(size=N))))}
        common = {"label": y, "w": rng.uniform(0.5, 2.0, N)}
        options = ["--prob-cols", "p", "--weight-col", "w"]
    else:  # multiclass with class and sample weights
        truth = rng.normal(size=(N, 3)) * 3
        u = rng.random(N)[:, None]
        y = (u > np.cumsum(_softmax(truth), axis=1)).sum(axis=1).clip(0, 2)
        pa_, pb = _softmax(truth), _softmax(truth * 0.1 + rng.normal(size=(N, 3)))
        cols_a = {f"p_{j}": pa_[:, j] for j in range(3)}
        cols_b = {f"p_{j}": pb[:, j] for j in range(3)}
        common = {"label": y, "w": rng.uniform(0.5, 2.0, N)}
        options = ["--weight-col", "w", "--class-weights", "1,2,0.5"]
    a = pa.table({"id": ids, **common, **cols_a})
    order = rng.permutation(N)
    b = pa.table({"id": ids, **common, **cols_b}).take(pa.array(order))
    pq.write_table(a, tmp_path / "a.parquet")
    pq.write_table(b, tmp_path / "b.parquet")
    return tmp_path / "a.parquet", tmp_path / "b.parquet", [*options, "--id-col", "id"]


@pytest.mark.parametrize("task", ["binary", "multiclass", "multilabel"])
def test_compare_two_different_models_on_every_task(tmp_path: Path, capsys, task: str) -> None:
    path_a, path_b, options = _models(tmp_path, task)
    code, out, err = run(
        ["compare", str(path_a), str(path_b), *options, "--format", "json", "--bootstrap", "200"],
        capsys,
    )
    assert code == 0, err
    result = json.loads(out)
    assert result["task"] == task
    # Both values are the reports' own, for every metric of the registry both have.
    code, out_a, _ = run([str(path_a), *options, "--format", "json"], capsys)
    code, out_b, _ = run([str(path_b), *options, "--format", "json"], capsys)
    report_a, report_b = json.loads(out_a)["metrics"], json.loads(out_b)["metrics"]
    assert set(result["metrics"]) == set(report_a) & set(BY_NAME)
    for name, m in result["metrics"].items():
        assert (m["a"], m["b"]) == (report_a[name], report_b[name])
        assert m["difference"] == pytest.approx(report_a[name] - report_b[name], rel=1e-12)
        assert m["direction"] == BY_NAME[name].direction
        if BY_NAME[name].per_row is not None:
            assert m["low"] <= m["difference"] <= m["high"]
        else:
            assert m["low"] is None and m["verdict"] in ("no interval", "descriptive")
    # The sharp model is the better one, with intervals that exclude 0.
    for name in ("loss", "cross_entropy", "brier"):
        assert result["metrics"][name]["verdict"] == "A better", name
    assert result["metrics"]["accuracy"]["verdict"] == "A better"


def test_compare_interval_is_the_paired_bootstrap_of_the_row_differences(tmp_path: Path) -> None:
    """The cross-entropy interval, recomputed here from -log q_t and the Poisson weights."""
    rng = np.random.default_rng(3)
    n, replicates = 300, 100
    y = rng.integers(0, 3, n)
    pa_, pb = _softmax(rng.normal(size=(n, 3))), _softmax(rng.normal(size=(n, 3)))
    s = rng.uniform(0.5, 2.0, n)
    for name, p in (("a", pa_), ("b", pb)):
        cols = {f"p_{j}": p[:, j] for j in range(3)}
        pq.write_table(pa.table({"label": y, "w": s, **cols}), tmp_path / f"{name}.parquet")
    result = compare(
        str(tmp_path / "a.parquet"),
        str(tmp_path / "b.parquet"),
        replicates=replicates,
        weight_col="w",
        seed=5,
    )
    diff = -np.log(pa_[np.arange(n), y]) + np.log(pb[np.arange(n), y])
    w = poisson_weights(np.arange(1, n + 1), replicates, 5) * s[:, None]
    # The Poisson weights are those of the 1-based input row numbers, the same for A and B.
    replicate = (diff @ w) / w.sum(axis=0)
    low, high = np.quantile(replicate, [0.025, 0.975])
    m = result["metrics"]["cross_entropy"]
    assert (m["low"], m["high"]) == pytest.approx((low, high), rel=1e-12)
    direct = ce_cli.evaluate_arrays(pa_, y, sample_weight=s).metrics["cross_entropy"]
    assert m["a"] == pytest.approx(direct, rel=1e-12)


@pytest.mark.parametrize("fmt", ["table", "markdown", "junit", "html"])
def test_compare_writes_every_format(tmp_path: Path, capsys, fmt: str) -> None:
    path_a, path_b, options = _models(tmp_path, "multilabel")
    code, out, err = run(
        ["compare", str(path_a), str(path_b), *options, "--format", fmt, "--bootstrap", "50"],
        capsys,
    )
    assert code == 0, err
    assert "subset_accuracy" in out and "cross_entropy" in out
    if fmt == "junit":
        suite = ET.fromstring(out).find("testsuite")
        assert suite is not None and suite.get("failures") == "0"
        names = {c.get("name") for c in suite.iter("testcase")}
        assert "loss: A vs B" in names
    if fmt == "markdown":
        assert out.startswith("## ce-eval compare")


def test_compare_junit_fails_where_b_is_better(tmp_path: Path, capsys) -> None:
    path_a, path_b, options = _models(tmp_path, "binary")
    code, out, err = run(
        ["compare", str(path_b), str(path_a), *options, "--format", "junit", "--bootstrap", "50"],
        capsys,
    )
    assert code == 0, err
    failures = [f.get("message") for f in ET.fromstring(out).iter("failure")]
    assert any(m is not None and m.startswith("loss:") for m in failures)
