"""Properties that hold for any data (hypothesis): CE = H + KL, class-order invariance, streaming
in any batch split equals one pass, logits and their softmax agree, merge equals one update."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import expit, softmax

import ce_cli
from ce_cli.core.persample import evaluate_rows
from ce_cli.core.sample_values import LossSpec
from ce_cli.state.accumulator import Accumulator

FAST = settings(max_examples=40, deadline=None)


@st.composite
def problems(draw: st.DrawFn, soft: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = draw(st.integers(1, 60))
    k = draw(st.integers(2, 6))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, k)) * draw(st.floats(0.1, 8.0))
    labels = rng.integers(0, k, n)
    targets = rng.dirichlet([draw(st.floats(0.2, 3.0))] * k, n)
    return logits, labels, targets


@FAST
@given(problems())
def test_cross_entropy_is_label_entropy_plus_kl_for_soft_targets(data) -> None:
    logits, _, targets = data
    m = ce_cli.evaluate_arrays(logits, targets=targets, logits=True).metrics
    assert np.isclose(
        m["cross_entropy"], m["label_entropy"] + m["kl_divergence"], rtol=1e-9, atol=1e-12
    )


@FAST
@given(problems())
def test_cross_entropy_is_label_entropy_plus_kl_for_multilabel(data) -> None:
    logits, _, targets = data
    m = ce_cli.evaluate_arrays(logits, targets=targets, logits=True, task="multilabel").metrics
    assert np.isclose(
        m["cross_entropy"], m["label_entropy"] + m["kl_divergence"], rtol=1e-9, atol=1e-12
    )


@FAST
@given(problems(), st.integers(0, 2**32 - 1))
def test_class_order_does_not_matter(data, seed: int) -> None:
    logits, labels, _ = data
    k = logits.shape[1]
    perm = np.random.default_rng(seed).permutation(k)
    inverse = np.argsort(perm)
    a = ce_cli.evaluate_arrays(logits, labels, logits=True, loss="focal", smoothing=0.1).metrics
    b = ce_cli.evaluate_arrays(
        logits[:, perm], inverse[labels], logits=True, loss="focal", smoothing=0.1
    ).metrics
    for key in ("loss", "cross_entropy", "entropy", "brier", "ece"):
        assert np.isclose(a[key], b[key], rtol=1e-9, atol=1e-12), key


@FAST
@given(problems())
def test_logits_and_their_softmax_give_the_same_numbers(data) -> None:
    logits, labels, _ = data
    probs = softmax(logits, axis=1)
    if probs.min() < 1e-12:  # clipping at eps would (correctly) differ
        return
    # task="multiclass" also for two columns (otherwise binary on the second column, where
    # 1 - q_1 carries fewer digits than q_0).
    a = ce_cli.evaluate_arrays(logits, labels, logits=True, task="multiclass").metrics
    b = ce_cli.evaluate_arrays(probs, labels, logits=False, task="multiclass").metrics
    for key in ("cross_entropy", "entropy", "brier", "accuracy"):
        assert np.isclose(a[key], b[key], rtol=1e-9, atol=1e-12), key


@FAST
@given(problems())
def test_binary_logits_and_sigmoid_agree(data) -> None:
    logits, labels, _ = data
    z, y = logits[:, 0], labels % 2
    q = expit(z)
    # As a probability, 1 - q carries only ~16 + log10(1 - q) digits; keep rows where that
    # still allows agreement to 1e-9 with the logits, which carry them all.
    if min(q.min(), 1 - q.max()) < 1e-5:
        return
    a = ce_cli.evaluate_arrays(z, y, logits=True, loss="focal", alpha=0.3).metrics
    b = ce_cli.evaluate_arrays(q, y, logits=False, loss="focal", alpha=0.3).metrics
    for key in ("loss", "cross_entropy", "entropy", "brier"):
        assert np.isclose(a[key], b[key], rtol=1e-9, atol=1e-12), key


def _assert_same_state(a: Accumulator, b: Accumulator) -> None:
    for f in fields(Accumulator):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray):
            np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-12, err_msg=f.name)
        elif isinstance(x, float):
            assert np.isclose(x, y, rtol=1e-12, atol=1e-12), f.name
        else:
            assert x == y, f.name


@FAST
@given(problems(), st.lists(st.integers(1, 30), min_size=1, max_size=6), st.booleans())
def test_any_batch_split_equals_one_pass_and_merge(data, sizes, weighted: bool) -> None:
    logits, labels, _ = data
    n = len(labels)
    s = np.random.default_rng(n).uniform(0.1, 2, n) if weighted else None
    spec = LossSpec("multiclass", logits=True, loss="focal", smoothing=0.05)
    whole = Accumulator("multiclass", logits.shape[1], 10)
    whole.update(evaluate_rows(logits, spec, labels=labels), s)
    batched = Accumulator("multiclass", logits.shape[1], 10)
    merged = Accumulator("multiclass", logits.shape[1], 10)
    start = 0
    for size in sizes * (n // max(sum(sizes), 1) + 1):
        stop = min(start + size, n)
        if start >= stop:
            break
        values = evaluate_rows(logits[start:stop], spec, labels=labels[start:stop])
        weights = None if s is None else s[start:stop]
        batched.update(values, weights)
        part = Accumulator("multiclass", logits.shape[1], 10)
        part.update(values, weights)
        merged = merged.merge(part)
        start = stop
    _assert_same_state(whole, batched)
    _assert_same_state(whole, merged)


@settings(max_examples=10, deadline=None)
@given(problems(), st.integers(1, 40))
def test_report_does_not_depend_on_file_batching(tmp_path_factory, data, row_group: int) -> None:
    logits, labels, _ = data
    table = pa.table(
        {"label": labels, **{f"logit_{j}": logits[:, j] for j in range(logits.shape[1])}}
    )
    path = tmp_path_factory.mktemp("rg") / "x.parquet"
    pq.write_table(table, path, row_group_size=row_group)
    a = ce_cli.evaluate(str(path)).metrics
    b = ce_cli.evaluate(table).metrics
    for key in a:
        assert np.isclose(a[key], b[key], rtol=1e-12, atol=1e-15), key
