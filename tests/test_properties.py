"""Properties of the numbers that hold for any data (hypothesis).

* CE = label entropy + KL (soft multi-class, soft binary, soft multi-label);
* the order of the classes does not matter;
* the accumulator gives the same state for any split of the rows into batches, and ``merge``
  equals updating with both batches, for every field;
* logits and their softmax / sigmoid give the same numbers;
* a Parquet file gives the same report whatever its row groups and the reader's batch size;
* focal with γ = 0 and no α is cross-entropy; smoothing 0 is no smoothing.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import fields
from pathlib import Path
from unittest import mock

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.special import expit, softmax

import ce_cli.io.batching
import ce_cli.io.readers
from ce_cli.api import evaluate
from ce_cli.arrays import evaluate_arrays
from ce_cli.core.persample import evaluate_rows
from ce_cli.core.sample_values import LossSpec, SampleValues
from ce_cli.state.accumulator import Accumulator

FAST = settings(max_examples=50, deadline=None)
EPS64 = float(np.finfo(np.float64).eps)
LOG_METRICS = ("loss", "cross_entropy", "entropy", "label_entropy", "kl_divergence")


def close(a: float, b: float, rel: float = 1e-9, abs_: float = 1e-9) -> bool:
    return bool(np.isclose(a, b, rtol=rel, atol=abs_))


@st.composite
def data(
    draw: st.DrawFn, min_rows: int = 1, max_rows: int = 80, max_classes: int = 6
) -> dict[str, np.ndarray]:
    """Logits, labels, soft targets (some zeros), multi-hot and soft multi-label targets."""
    n = draw(st.integers(min_rows, max_rows))
    k = draw(st.integers(2, max_classes))
    scale = draw(st.sampled_from([0.1, 1.0, 3.0, 8.0]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    logits = rng.normal(size=(n, k)) * scale
    soft = rng.dirichlet([draw(st.sampled_from([0.3, 1.0, 3.0]))] * k, n)
    if draw(st.booleans()):  # exact zeros in the targets: 0 log 0 = 0
        soft[rng.uniform(size=(n, k)) < 0.3] = 0.0
        soft[soft.sum(axis=1) == 0, 0] = 1.0
        soft /= soft.sum(axis=1, keepdims=True)
    return {
        "logits": logits,
        "labels": rng.integers(0, k, n),
        "soft": soft,
        "multi_hot": rng.integers(0, 2, (n, k)).astype(np.float64),
        "soft_multi": rng.uniform(0.0, 1.0, (n, k)),
        "weights": rng.uniform(0.1, 3.0, n),
        "binary_y": rng.integers(0, 2, n),
        "binary_soft": rng.uniform(0.0, 1.0, n),
    }


# -- CE = H(p) + KL(p || q) -----------------------------------------------------------------------


@FAST
@given(data(), st.sampled_from(["nats", "bits"]), st.booleans())
def test_cross_entropy_is_label_entropy_plus_kl_soft_multiclass(
    d: dict[str, np.ndarray], base: str, as_probs: bool
) -> None:
    z = d["logits"]
    predictions = softmax(z, axis=1) if as_probs else z
    assume(not as_probs or predictions.min() >= EPS64)  # a clipped q would break the identity
    m = evaluate_arrays(predictions, targets=d["soft"], logits=not as_probs, base=base).metrics
    assert m["label_entropy"] > 0 or np.all(d["soft"].max(axis=1) == 1.0)
    assert close(m["cross_entropy"], m["label_entropy"] + m["kl_divergence"])
    assert m["kl_divergence"] >= -1e-12  # Gibbs' inequality


@FAST
@given(data())
def test_cross_entropy_is_label_entropy_plus_kl_soft_binary(d: dict[str, np.ndarray]) -> None:
    z = d["logits"][:, 0]
    m = evaluate_arrays(z, targets=d["binary_soft"], task="binary", logits=True).metrics
    assert close(m["cross_entropy"], m["label_entropy"] + m["kl_divergence"])
    assert m["kl_divergence"] >= -1e-12


@FAST
@given(data())
def test_cross_entropy_is_label_entropy_plus_kl_soft_multilabel(d: dict[str, np.ndarray]) -> None:
    m = evaluate_arrays(
        d["logits"], targets=d["soft_multi"], task="multilabel", logits=True, base="bits"
    ).metrics
    assert close(m["cross_entropy"], m["label_entropy"] + m["kl_divergence"])
    assert m["kl_divergence"] >= -1e-12


@FAST
@given(data())
def test_hard_labels_have_no_label_entropy(d: dict[str, np.ndarray]) -> None:
    m = evaluate_arrays(d["logits"], d["labels"], logits=True).metrics
    assert m["label_entropy"] == 0.0
    assert close(m["kl_divergence"], m["cross_entropy"])


# -- class order ------------------------------------------------------------------------------


@FAST
@given(data(min_rows=2), st.integers(0, 2**32 - 1), st.booleans())
def test_class_order_does_not_matter(d: dict[str, np.ndarray], seed: int, modifiers: bool) -> None:
    q = softmax(d["logits"], axis=1)
    ordered = np.sort(q, axis=1)
    assume(np.all(ordered[:, -1] - ordered[:, -2] > 1e-9))  # no ties for the argmax
    labels = d["labels"]
    k = q.shape[1]
    perm = np.random.default_rng(seed).permutation(k)  # new column j holds old column perm[j]
    relabel = np.argsort(perm)  # old class t is new class relabel[t]
    w = np.linspace(0.5, 2.0, k)
    options = {"loss": "focal", "gamma": 1.5, "smoothing": 0.1} if modifiers else {}
    a = evaluate_arrays(
        q,
        labels,
        class_weights=tuple(w) if modifiers else None,
        bins=7,
        task="multiclass",
        **options,
    ).metrics
    b = evaluate_arrays(
        q[:, perm],
        relabel[labels],
        class_weights=tuple(w[perm]) if modifiers else None,
        bins=7,
        task="multiclass",
        **options,
    ).metrics
    for key in ("loss", "cross_entropy", "entropy", "brier", "accuracy", "ece", "mce"):
        assert close(a[key], b[key], rel=1e-12, abs_=1e-13), key


@FAST
@given(data(), st.integers(0, 2**32 - 1))
def test_soft_target_and_multilabel_order_does_not_matter(
    d: dict[str, np.ndarray], seed: int
) -> None:
    perm = np.random.default_rng(seed).permutation(d["logits"].shape[1])
    z, soft, multi = d["logits"], d["soft"], d["multi_hot"]
    a = evaluate_arrays(z, targets=soft, logits=True).metrics
    b = evaluate_arrays(z[:, perm], targets=soft[:, perm], logits=True).metrics
    c = evaluate_arrays(z, targets=multi, logits=True, task="multilabel").metrics
    e = evaluate_arrays(z[:, perm], targets=multi[:, perm], logits=True, task="multilabel").metrics
    for key in ("cross_entropy", "entropy", "label_entropy", "kl_divergence", "brier"):
        assert close(a[key], b[key], rel=1e-12, abs_=1e-13), key
        assert close(c[key], e[key], rel=1e-12, abs_=1e-13), key
    for key in ("accuracy", "subset_accuracy", "ece", "mce"):
        assert close(c[key], e[key], rel=1e-12, abs_=1e-13), key


# -- the accumulator: any split, and merge ------------------------------------------------------


def _values_for(task: str, d: dict[str, np.ndarray], spec: LossSpec, rows: slice) -> SampleValues:
    z = d["logits"][rows]
    if task == "multiclass":
        return evaluate_rows(z, spec, labels=d["labels"][rows])
    if task == "soft":
        return evaluate_rows(z, spec, targets=d["soft"][rows])
    if task == "binary":
        return evaluate_rows(z[:, 0], spec, labels=d["binary_y"][rows])
    return evaluate_rows(z, spec, targets=d["multi_hot"][rows])


def _spec(task: str, k: int, modifiers: bool) -> LossSpec:
    kernel_task = "multiclass" if task == "soft" else task
    n_weights = 2 if task == "binary" else k
    if not modifiers:
        return LossSpec(kernel_task, logits=True)
    return LossSpec(
        kernel_task,
        logits=True,
        loss="focal",
        gamma=2.0,
        alpha=None if kernel_task == "multiclass" else 0.25,
        smoothing=0.05,
        class_weights=np.linspace(0.5, 2.0, n_weights),
    )


def _assert_same_state(a: Accumulator, b: Accumulator) -> None:
    for f in fields(Accumulator):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray):
            if f.name.endswith("_rows"):  # counts: exact
                np.testing.assert_array_equal(x, y, err_msg=f.name)
            else:
                np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-12, err_msg=f.name)
        elif isinstance(x, (int, str)) and not isinstance(x, bool):
            assert type(x) is type(y) and x == y, f.name
        else:
            assert np.isclose(x, y, rtol=1e-12, atol=1e-12), f.name


TASKS = st.sampled_from(["multiclass", "soft", "binary", "multilabel"])


@FAST
@given(data(max_rows=120), TASKS, st.booleans(), st.data())
def test_any_batch_split_equals_one_pass(
    d: dict[str, np.ndarray], task: str, modifiers: bool, draw: st.DataObject
) -> None:
    n, k = d["logits"].shape
    spec = _spec(task, k, modifiers)
    n_classes = 2 if task == "binary" else k
    cuts = sorted(draw.draw(st.lists(st.integers(0, n), max_size=6)))
    bounds = list(zip([0, *cuts], [*cuts, n], strict=True))
    weighted = draw.draw(st.booleans())
    s = d["weights"] if weighted else None

    one = Accumulator(task if task != "soft" else "multiclass", n_classes, 9)
    one.update(_values_for(task, d, spec, slice(0, n)), s)
    split = Accumulator(one.task, n_classes, 9)
    for a, b in bounds:
        split.update(_values_for(task, d, spec, slice(a, b)), None if s is None else s[a:b])
    assert split.rows == n
    _assert_same_state(one, split)


@FAST
@given(data(min_rows=2, max_rows=120), TASKS, st.booleans(), st.data())
def test_merge_equals_updating_with_both(
    d: dict[str, np.ndarray], task: str, modifiers: bool, draw: st.DataObject
) -> None:
    n, k = d["logits"].shape
    spec = _spec(task, k, modifiers)
    n_classes = 2 if task == "binary" else k
    cut = draw.draw(st.integers(0, n))
    s = d["weights"]
    acc_task = task if task != "soft" else "multiclass"
    part_a = _values_for(task, d, spec, slice(0, cut))
    part_b = _values_for(task, d, spec, slice(cut, n))

    a = Accumulator(acc_task, n_classes, 9)
    a.update(part_a, s[:cut])
    b = Accumulator(acc_task, n_classes, 9)
    b.update(part_b, s[cut:])
    both = Accumulator(acc_task, n_classes, 9)
    both.update(part_a, s[:cut])
    both.update(part_b, s[cut:])
    a_before = Accumulator(acc_task, n_classes, 9)
    a_before.update(part_a, s[:cut])

    merged = a.merge(b)
    _assert_same_state(merged, both)
    _assert_same_state(b.merge(a), both)  # merge commutes
    _assert_same_state(a, a_before)  # the inputs are left as they were
    assert merged.rows == n


# -- logits against their softmax / sigmoid -------------------------------------------------------


@FAST
@given(data())
def test_multiclass_logits_and_their_softmax_agree(d: dict[str, np.ndarray]) -> None:
    z, labels = d["logits"], d["labels"]
    q = softmax(z, axis=1)
    assume(q.min() >= EPS64 and q.max() <= 1 - EPS64)  # no clipping on the probability side
    # task="multiclass": two columns would otherwise be binary on the second column, where
    # 1 - q_1 rounds differently from q_0 (a binary input's own precision, not this property).
    a = evaluate_arrays(z, labels, logits=True, task="multiclass").metrics
    b = evaluate_arrays(q, labels, logits=False, task="multiclass").metrics
    for key in ("cross_entropy", "entropy", "kl_divergence", "brier", "perplexity"):
        assert close(a[key], b[key], rel=1e-9, abs_=1e-12), key
    for key in ("accuracy", "ece", "mce"):
        assert close(a[key], b[key], rel=1e-9, abs_=1e-12), key
    s = evaluate_arrays(z, targets=d["soft"], logits=True).metrics
    t = evaluate_arrays(q, targets=d["soft"], logits=False).metrics
    for key in LOG_METRICS:
        assert close(s[key], t[key], rel=1e-9, abs_=1e-12), key


@FAST
@given(data(), st.floats(0.5, 15.0))
def test_binary_logits_and_their_sigmoid_agree(d: dict[str, np.ndarray], bound: float) -> None:
    # |z| <= 15 keeps 1 - σ(z) >= 3e-7, where 1 - q in float64 still has ~9 good digits.
    z = np.clip(d["logits"][:, 0] * 3, -bound, bound)
    y = d["binary_y"]
    a = evaluate_arrays(z, y, logits=True).metrics
    b = evaluate_arrays(expit(z), y, logits=False).metrics
    for key in ("cross_entropy", "entropy", "brier", "accuracy"):
        assert close(a[key], b[key], rel=1e-9, abs_=1e-12), key
    c = evaluate_arrays(z, y, logits=True, loss="focal", gamma=2.0, alpha=0.25).metrics
    e = evaluate_arrays(expit(z), y, logits=False, loss="focal", gamma=2.0, alpha=0.25).metrics
    assert close(c["loss"], e["loss"], rel=1e-8, abs_=1e-12)


# -- batch size of a file ---------------------------------------------------------------------


def _report_numbers(path: Path, batch_rows: int, **options: object) -> tuple[dict, int]:
    calls = []
    with mock.patch.object(ce_cli.io.batching, "BATCH_ROWS", batch_rows):
        report = evaluate(str(path), progress=lambda done, total: calls.append(done), **options)
    out = json.loads(json.dumps(report.to_dict()))
    return {k: out[k] for k in ("n_samples", "metrics", "per_class", "calibration")}, len(calls)


def _assert_same_numbers(a: object, b: object, where: str = "") -> None:
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for key in a:
            _assert_same_numbers(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same_numbers(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert np.isclose(a, b, rtol=1e-12, atol=1e-14), (where, a, b)
    else:
        assert a == b, (where, a, b)


@settings(max_examples=20, deadline=None)
@given(
    data(min_rows=3, max_rows=400),
    st.integers(1, 97),
    st.integers(1, 97),
    st.sampled_from(["logits", "probs"]),
    st.booleans(),
)
def test_parquet_report_is_the_same_for_any_batch_size(
    d: dict[str, np.ndarray], size_a: int, size_b: int, kind: str, modifiers: bool
) -> None:
    z, labels = d["logits"], d["labels"]
    n, k = z.shape
    values = z if kind == "logits" else softmax(z, axis=1)
    prefix = "logit" if kind == "logits" else "p"
    columns = {f"{prefix}_{j}": values[:, j] for j in range(k)}
    columns["label"] = labels
    columns["w"] = d["weights"]
    table = pa.table(columns)
    options: dict[str, object] = {"weight_col": "w", "bins": 7, "base": "bits"}
    if modifiers:
        options.update(loss="focal", gamma=1.0, smoothing=0.1, class_weights="balanced")
        assume(len(np.unique(labels)) == k)  # balanced needs every class present
    with tempfile.TemporaryDirectory() as tmp:
        one = Path(tmp) / "one.parquet"
        many = Path(tmp) / "many.parquet"
        pq.write_table(table, one)
        pq.write_table(table, many, row_group_size=size_b)
        whole, _ = _report_numbers(one, 1 << 16, **options)
        small, calls_a = _report_numbers(one, size_a, **options)
        grouped, calls_b = _report_numbers(many, size_b, **options)
    assert calls_a >= -(-n // size_a)  # the reader really did hand over that many batches
    assert calls_b >= -(-n // size_b)
    assert whole["n_samples"] == n
    _assert_same_numbers(whole, small)
    _assert_same_numbers(whole, grouped)


# -- focal γ = 0, smoothing 0 ---------------------------------------------------------------------


@FAST
@given(data(), st.sampled_from(["multiclass", "soft", "binary", "multilabel"]), st.booleans())
def test_focal_gamma_zero_without_alpha_is_cross_entropy(
    d: dict[str, np.ndarray], task: str, weighted: bool
) -> None:
    z = d["logits"]
    s = d["weights"] if weighted else None
    if task == "multiclass":
        args: tuple = (z, d["labels"])
        extra: dict[str, object] = {}
    elif task == "soft":
        args, extra = (z,), {"targets": d["soft"]}
    elif task == "binary":
        args, extra = (z[:, 0], d["binary_y"]), {}
    else:
        args, extra = (z,), {"targets": d["multi_hot"], "task": "multilabel"}
    plain = evaluate_arrays(*args, logits=True, sample_weight=s, **extra).metrics
    focal = evaluate_arrays(
        *args, logits=True, sample_weight=s, loss="focal", gamma=0.0, **extra
    ).metrics
    assert close(focal["loss"], plain["loss"], rel=1e-12, abs_=1e-15)
    assert close(focal["loss"], plain["cross_entropy"], rel=1e-12, abs_=1e-15)
    # and γ > 0 lowers the loss of every row (strictly, unless every row is certain).
    focal2 = evaluate_arrays(*args, logits=True, sample_weight=s, loss="focal", **extra).metrics
    assert focal2["loss"] <= plain["loss"] * (1 + 1e-12)


@FAST
@given(data(), st.booleans())
def test_smoothing_zero_is_plain_and_small_smoothing_is_close(
    d: dict[str, np.ndarray], soft: bool
) -> None:
    z, labels = d["logits"], d["labels"]
    args: tuple = (z,) if soft else (z, labels)
    extra = {"targets": d["soft"]} if soft else {}
    k = z.shape[1]
    plain = evaluate_arrays(*args, logits=True, **extra).metrics
    # smoothing=0 through the general path (unit class weights force it) is the plain loss.
    zero = evaluate_arrays(
        *args, logits=True, smoothing=0.0, class_weights=(1.0,) * k, **extra
    ).metrics
    assert close(zero["loss"], plain["loss"], rel=1e-12, abs_=1e-15)
    # The loss is linear in ε: L(ε) = (1-ε) L(0) + ε · mean_i (1/C) Σ_j -log q_ij.
    eps = 1e-3
    small = evaluate_arrays(*args, logits=True, smoothing=eps, **extra).metrics
    uniform = -np.mean(np.mean(np.log(softmax(z, axis=1)), axis=1))
    expected = (1 - eps) * plain["cross_entropy"] + eps * uniform
    assert close(small["loss"], expected, rel=1e-9, abs_=1e-12)


def test_the_comparison_helpers_can_fail() -> None:
    # The helpers above must see a difference in any field, or the properties would be vacuous.
    with pytest.raises(AssertionError):
        _assert_same_numbers({"m": [1.0, 2.0]}, {"m": [1.0, 2.0 + 1e-9]})
    spec = LossSpec("multiclass", logits=True)
    z = np.array([[0.0, 1.0], [2.0, -1.0]])
    a = Accumulator("multiclass", 2, 9)
    a.update(evaluate_rows(z, spec, labels=np.array([0, 1])))
    b = Accumulator("multiclass", 2, 9)
    b.update(evaluate_rows(z, spec, labels=np.array([0, 0])))
    with pytest.raises(AssertionError):
        _assert_same_state(a, b)
