"""The Poisson bootstrap: intervals cover the truth at the stated rate, and do not depend on
how the rows were batched or split between accumulators."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import ce_cli
from ce_cli.core.persample import evaluate_rows
from ce_cli.core.sample_values import LossSpec, take_rows
from ce_cli.state.bootstrap import BootstrapAccumulator, poisson_weights


def test_poisson_weights_have_mean_and_variance_one() -> None:
    w = poisson_weights(np.arange(100_000), 20, seed=7)
    assert w.mean() == pytest.approx(1.0, abs=0.01)
    assert w.var() == pytest.approx(1.0, abs=0.02)
    assert (w >= 0).all()
    assert np.array_equal(w, np.round(w))


def test_poisson_weights_depend_only_on_row_replicate_and_seed() -> None:
    rows = np.arange(1000)
    whole = poisson_weights(rows, 8, seed=3)
    assert np.array_equal(whole[500:], poisson_weights(rows[500:], 8, seed=3))
    assert not np.array_equal(whole, poisson_weights(rows, 8, seed=4))


def test_interval_coverage_of_the_true_cross_entropy() -> None:
    """A binary model with known probabilities: labels drawn from them, so the expected
    cross-entropy is known exactly; 95 % intervals must cover it about 95 % of the time."""
    rng = np.random.default_rng(11)
    n, simulations, level = 300, 120, 0.95
    q = rng.uniform(0.05, 0.95, n)
    # E[-y log q - (1-y) log(1-q)] with y ~ Bernoulli(q) is the Bernoulli entropy of q.
    truth = float(np.mean(-(q * np.log(q) + (1 - q) * np.log(1 - q))))
    covered = 0
    for sim in range(simulations):
        y = (rng.uniform(size=n) < q).astype(np.int64)
        boot = BootstrapAccumulator(replicates=200, n_bins=10, seed=sim)
        values = evaluate_rows(q, LossSpec("binary", logits=False), labels=y)
        boot.update(values, np.arange(1, n + 1), None)
        interval = boot.intervals(level, 1.0)["cross_entropy"]
        covered += interval["low"] <= truth <= interval["high"]
    rate = covered / simulations
    # Binomial sd at 120 simulations is 2 %; percentile intervals run slightly narrow.
    assert 0.86 <= rate <= 0.995, rate


def test_intervals_do_not_depend_on_batching(tmp_path) -> None:
    rng = np.random.default_rng(2)
    n = 2000
    logits = rng.normal(size=(n, 4))
    table = pa.table(
        {"label": rng.integers(0, 4, n), **{f"logit_{j}": logits[:, j] for j in range(4)}}
    )
    reports = []
    for group_size in (n, 333, 64):
        path = tmp_path / f"rg{group_size}.parquet"
        pq.write_table(table, path, row_group_size=group_size)
        reports.append(ce_cli.evaluate(str(path), ci=0.9, bootstrap=50).extra)
    first = reports[0]["confidence_intervals"]
    for other in reports[1:]:
        for name, interval in first.items():
            assert other["confidence_intervals"][name]["low"] == pytest.approx(
                interval["low"], rel=1e-12
            )
            assert other["confidence_intervals"][name]["high"] == pytest.approx(
                interval["high"], rel=1e-12
            )


def test_merge_equals_one_pass() -> None:
    rng = np.random.default_rng(5)
    z = rng.normal(size=(500, 3))
    t = rng.integers(0, 3, 500)
    spec = LossSpec("multiclass", logits=True)
    rows = np.arange(1, 501)
    whole = BootstrapAccumulator(30, 10)
    whole.update(evaluate_rows(z, spec, labels=t), rows, None)
    a, b = BootstrapAccumulator(30, 10), BootstrapAccumulator(30, 10)
    a.update(evaluate_rows(z[:200], spec, labels=t[:200]), rows[:200], None)
    b.update(evaluate_rows(z[200:], spec, labels=t[200:]), rows[200:], None)
    merged = a.merge(b)
    np.testing.assert_allclose(merged.sums, whole.sums, rtol=1e-12)
    np.testing.assert_allclose(merged.bin_weight, whole.bin_weight, rtol=1e-12)
    np.testing.assert_allclose(merged.bin_outcome, whole.bin_outcome, rtol=1e-12)


@pytest.mark.parametrize("task", ["multiclass", "multilabel"])
def test_each_replicate_is_the_report_of_its_reweighted_rows(task: str) -> None:
    """Replicate r of every metric with an interval equals the report of the same rows with
    sample weights ``s_i · b_ir`` (min and max: over the rows the replicate holds). Chunks of a
    few hundred rows make the update split the rows as it does on large inputs."""
    from ce_cli.report.registry import METRICS
    from ce_cli.state import bootstrap

    rng = np.random.default_rng(5)
    n, replicates = 700, 6
    s = rng.uniform(0.2, 3.0, n)
    if task == "multiclass":
        z, y, targets = rng.normal(size=(n, 4)) * 2, rng.integers(0, 4, n), None
    else:
        z, y, targets = rng.normal(size=(n, 3)) * 2, None, (rng.random((n, 3)) < 0.4) * 1.0
    spec = LossSpec(task=task, logits=True, loss="focal", gamma=1.5)
    values = evaluate_rows(z, spec, labels=y, targets=targets)
    rows = np.arange(1, n + 1)
    acc = BootstrapAccumulator(replicates, 10, seed=9)
    chunk = bootstrap.CHUNK_VALUES
    bootstrap.CHUNK_VALUES = 250 * replicates
    try:
        acc.update(values, rows, s)
    finally:
        bootstrap.CHUNK_VALUES = chunk
    got = acc.replicate_metrics(np.log(2.0))
    b = poisson_weights(rows, replicates, seed=9)
    options = {"logits": True, "loss": "focal", "gamma": 1.5, "bins": 10, "base": "bits"}
    if task == "multilabel":
        options["task"] = "multilabel"
    for r in range(replicates):
        kept = b[:, r] > 0
        report = ce_cli.evaluate_arrays(
            z[kept], None if y is None else y[kept],
            targets=None if targets is None else targets[kept],
            sample_weight=(s * b[:, r])[kept], **options,
        ).to_dict()  # fmt: skip
        for m in METRICS:
            if not m.has_interval or m.name not in report[m.section]:
                assert m.name in report[m.section] or m.gate_name not in got
                continue
            expected = report[m.section][m.name]
            assert got[m.gate_name][r] == pytest.approx(expected, rel=1e-9, abs=1e-12), m.name


def test_merge_of_any_split_is_one_pass() -> None:
    """Every piece of the replicate state (sums, bins, loss histogram, smallest and largest
    loss) merges: two accumulators over a split of the rows equal one over all of them."""
    rng = np.random.default_rng(8)
    n = 500
    z, targets = rng.normal(size=(n, 3)) * 2, (rng.random((n, 3)) < 0.3) * 1.0
    values = evaluate_rows(z, LossSpec("multilabel", logits=True), targets=targets)
    rows, s = np.arange(1, n + 1), rng.uniform(0.0, 2.0, n)
    whole = BootstrapAccumulator(30, 12, seed=2)
    whole.update(values, rows, s)
    for cut in (1, 137, 499):
        left, right = BootstrapAccumulator(30, 12, seed=2), BootstrapAccumulator(30, 12, seed=2)
        left.update(take_rows(values, np.arange(cut)), rows[:cut], s[:cut])
        right.update(take_rows(values, np.arange(cut, n)), rows[cut:], s[cut:])
        merged = left.merge(right)
        assert merged.n_labels == whole.n_labels == 3
        for name in ("sums", "bin_weight", "bin_confidence", "bin_outcome", "loss_histogram"):
            np.testing.assert_allclose(getattr(merged, name), getattr(whole, name), rtol=1e-12)
        assert np.array_equal(merged.loss_min, whole.loss_min)
        assert np.array_equal(merged.loss_max, whole.loss_max)
