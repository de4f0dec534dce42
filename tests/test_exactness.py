"""Every per-row number of every path against exact values, on rows built to lose digits.

The reference (``tests/exact_reference.py``) is mpmath at 256 bits, from the very floats the
kernel reads, written from the SPEC's definitions with nothing that could cancel, so its value is
exact to far below an ulp. The kernel must agree to :data:`RTOL` (relative) wherever the exact
value is a normal double; below that (subnormal results) to :data:`ATOL`.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from types import ModuleType
from typing import Any

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ce_cli.arrays import evaluate_arrays
from ce_cli.core.persample import evaluate_rows
from ce_cli.core.sample_values import LossSpec, SampleValues
from ce_cli.core.workspace import Workspace
from ce_cli.report.metric import LOG_DBL_MAX, perplexity

RTOL = 1e-12
ATOL = 1e-300


def _load_reference() -> ModuleType:
    path = Path(__file__).with_name("exact_reference.py")
    spec = importlib.util.spec_from_file_location("exact_reference", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_reference = _load_reference()
PREC: int = _reference.PREC
_mp = _reference._mp
categorical_reference = _reference.categorical_reference
bernoulli_reference = _reference.bernoulli_reference
multiclass_logit_blocks = _reference.multiclass_logit_blocks
SOFT_TARGETS_3 = _reference.SOFT_TARGETS_3
PROBABILITY_ROWS_3 = _reference.PROBABILITY_ROWS_3
BINARY_LOGITS = _reference.BINARY_LOGITS
BINARY_PROBABILITIES = _reference.BINARY_PROBABILITIES


def assert_close(got: np.ndarray, want: Sequence[float], what: str) -> None:
    got = np.asarray(got, dtype=np.float64)
    want_a = np.asarray(want, dtype=np.float64)
    np.testing.assert_allclose(got, want_a, rtol=RTOL, atol=ATOL, err_msg=what)


# ---------------------------------------------------------------------------------------------
# Rows built to hurt


LOGIT_SPECS = [
    {},
    {"smoothing": 0.1},
    {"loss": "focal", "gamma": 0.5},
    {"loss": "focal", "gamma": 5.0},
    {"smoothing": 0.1, "weights": True},
    {"weights": True},
    {"loss": "focal", "gamma": 2.0, "smoothing": 0.05, "weights": True},
]


def _spec(task: str, logits: bool, c: int, eps: float, options: dict[str, Any]) -> LossSpec:
    weights = None
    if options.get("weights"):
        weights = np.linspace(0.25, 3.0, c)
    return LossSpec(
        task,
        logits=logits,
        loss=options.get("loss", "ce"),
        gamma=options.get("gamma", 2.0),
        alpha=options.get("alpha"),
        smoothing=options.get("smoothing", 0.0),
        class_weights=weights,
        eps=eps,
    )


def _reference_options(spec: LossSpec) -> dict[str, Any]:
    return {
        "gamma": spec.focal_gamma,
        "smoothing": spec.smoothing,
        "weights": None if spec.class_weights is None else spec.class_weights.tolist(),
    }


QUANTITIES = ("loss", "cross_entropy", "entropy", "brier", "true_prob", "confidence")


def _check_categorical(
    got: SampleValues,
    rows: np.ndarray,
    spec: LossSpec,
    labels: np.ndarray | None = None,
    targets: np.ndarray | None = None,
) -> None:
    wide = rows.astype(np.float64)
    for i in range(wide.shape[0]):
        want = categorical_reference(
            wide[i].tolist(),
            spec.logits,
            None if labels is None else int(labels[i]),
            None if targets is None else targets[i].tolist(),
            clip_eps=spec.eps,
            **_reference_options(spec),
        )
        names = (*QUANTITIES, "kl_divergence")
        if targets is not None:
            names = (*names, "label_entropy")
        for name in names:
            assert_close(getattr(got, name)[i : i + 1], [want[name]], f"{name}, row {i}: {rows[i]}")


@pytest.mark.parametrize("options", LOGIT_SPECS, ids=lambda o: repr(o) or "plain")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_multiclass_logits_with_hard_labels_are_exact(options: dict[str, Any], dtype: type) -> None:
    for block in multiclass_logit_blocks():
        z = block.astype(dtype)
        if not np.all(np.isfinite(z)):
            continue
        c = z.shape[1]
        labels = np.arange(z.shape[0]) % c
        spec = _spec("multiclass", True, c, float(np.finfo(dtype).eps), options)
        if c > 2_000 and options:
            continue  # the widest row once (plain); the modifiers on the narrower ones
        got = evaluate_rows(z, spec, labels=labels, workspace=Workspace())
        _check_categorical(got, z, spec, labels=labels)
        if c <= 3:  # and every other label of the short rows
            for shift in range(1, c):
                other = (labels + shift) % c
                got = evaluate_rows(z, spec, labels=other, workspace=Workspace())
                _check_categorical(got, z, spec, labels=other)


@pytest.mark.parametrize("options", LOGIT_SPECS, ids=lambda o: repr(o) or "plain")
def test_multiclass_logits_with_soft_targets_are_exact(options: dict[str, Any]) -> None:
    z = multiclass_logit_blocks()[1]
    p = np.array(SOFT_TARGETS_3)
    spec = _spec("multiclass", True, 3, 2.0**-52, options)
    got = evaluate_rows(z, spec, targets=p)
    _check_categorical(got, z, spec, targets=p)
    wide = multiclass_logit_blocks()[5]
    soft = np.zeros_like(wide)
    soft[0, 0], soft[1, :3] = 1.0, [0.0, 0.5, 0.5]
    spec = _spec("multiclass", True, wide.shape[1], 2.0**-52, options)
    _check_categorical(evaluate_rows(wide, spec, targets=soft), wide, spec, targets=soft)


@pytest.mark.parametrize("options", LOGIT_SPECS, ids=lambda o: repr(o) or "plain")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_multiclass_probabilities_are_exact(options: dict[str, Any], dtype: type) -> None:
    q = np.array(PROBABILITY_ROWS_3).astype(dtype)
    eps = float(np.finfo(dtype).eps)
    spec = _spec("multiclass", False, 3, eps, options)
    for shift in range(3):
        labels = (np.arange(q.shape[0]) + shift) % 3
        got = evaluate_rows(q, spec, labels=labels, workspace=Workspace())
        _check_categorical(got, q, spec, labels=labels)
    p = np.array(SOFT_TARGETS_3)
    _check_categorical(evaluate_rows(q, spec, targets=p), q, spec, targets=p)


BINARY_SPECS = [
    {},
    {"loss": "focal", "gamma": 0.5},
    {"loss": "focal", "gamma": 5.0, "alpha": 0.25},
    {"smoothing": 0.1, "weights": True},
    {"smoothing": 1e-10},
    {"loss": "focal", "gamma": 2.0, "alpha": 0.75, "smoothing": 0.05, "weights": True},
]


def _binary_reference_options(spec: LossSpec) -> dict[str, Any]:
    out: dict[str, Any] = {
        "gamma": spec.focal_gamma,
        "alpha": spec.focal_alpha,
        "smoothing": spec.smoothing,
    }
    if spec.class_weights is not None:
        out["w_neg"], out["w_pos"] = (float(v) for v in spec.class_weights[:2])
    return out


@pytest.mark.parametrize("options", BINARY_SPECS, ids=lambda o: repr(o) or "plain")
@pytest.mark.parametrize("logits", [True, False], ids=["logits", "probabilities"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_binary_rows_are_exact(options: dict[str, Any], logits: bool, dtype: type) -> None:
    values = np.array(BINARY_LOGITS if logits else BINARY_PROBABILITIES).astype(dtype)
    values = values[np.isfinite(values)]
    eps = float(np.finfo(dtype).eps)
    spec = _spec("binary", logits, 2, eps, options)
    for y in (0.0, 1.0, 0.3, 1.0 - 1e-12):
        ys = np.full(values.shape, y)
        hard = y in (0.0, 1.0)
        got = evaluate_rows(
            values,
            spec,
            labels=ys.astype(np.int64) if hard else None,
            targets=None if hard else ys,
        )
        for i, v in enumerate(values.astype(np.float64).tolist()):
            want = bernoulli_reference(
                v, logits, y, clip_eps=eps, **_binary_reference_options(spec)
            )
            for name in (*QUANTITIES, "kl_divergence"):
                assert_close(getattr(got, name)[i : i + 1], [want[name]], f"{name}, {v}, y={y}")


@pytest.mark.parametrize("options", BINARY_SPECS, ids=lambda o: repr(o) or "plain")
@pytest.mark.parametrize("logits", [True, False], ids=["logits", "probabilities"])
def test_multilabel_rows_are_exact(options: dict[str, Any], logits: bool) -> None:
    values = np.array(BINARY_LOGITS if logits else BINARY_PROBABILITIES)
    n_labels = values.shape[0]
    rows = np.vstack([values, values[::-1]])
    y = np.vstack([np.arange(n_labels) % 2, (np.arange(n_labels) + 1) % 2]).astype(np.float64)
    spec = _spec("multilabel", logits, n_labels, 2.0**-52, options)
    if spec.class_weights is not None:
        opts = {k: v for k, v in _binary_reference_options(spec).items() if k[:2] != "w_"}
    else:
        opts = _binary_reference_options(spec)
    got = evaluate_rows(rows, spec, targets=y)
    assert got.label_true_prob is not None and got.label_predicted is not None
    for i in range(2):
        per_label = []
        for j in range(n_labels):
            w = 1.0 if spec.class_weights is None else float(spec.class_weights[j])
            per_label.append(
                bernoulli_reference(float(rows[i, j]), logits, y[i, j], w_neg=w, w_pos=w, **opts)
            )
        with mpmath.workprec(PREC):
            for name in ("loss", "cross_entropy", "entropy", "brier"):
                want = float(mpmath.fsum(_mp(d[name]) for d in per_label))
                # the per-label values are exact to an ulp, their sum to a few more
                assert_close(getattr(got, name)[i : i + 1], [want], f"{name}, row {i}")
        assert_close(got.label_true_prob[i], [d["true_prob"] for d in per_label], "p(true)")
        positive = rows[i] >= (0.0 if logits else 0.5)
        np.testing.assert_array_equal(got.label_predicted[i], positive.astype(float))


# ---------------------------------------------------------------------------------------------
# The failures the issue names, one by one


def test_a_confident_rows_cross_entropy_and_entropy_keep_their_digits_with_modifiers() -> None:
    """With `--smoothing 0.1` the row went through `shifted - log(1 + r)`, 1 + r rounded: its
    cross-entropy was 0 and its entropy lost the top class's term."""
    z = np.array([[40.0, 0.0, 0.0]])
    plain = evaluate_rows(z, LossSpec("multiclass", logits=True), labels=np.array([0]))
    smoothed = evaluate_rows(
        z, LossSpec("multiclass", logits=True, smoothing=0.1), labels=np.array([0])
    )
    exact_ce = 2 * math.exp(-40.0)  # log(1 + 2e^-40), to an ulp
    assert plain.cross_entropy[0] == pytest.approx(exact_ce, rel=1e-15)
    assert smoothed.cross_entropy[0] == plain.cross_entropy[0]
    assert smoothed.entropy[0] == plain.entropy[0]


def test_the_focal_factor_of_a_confident_row_comes_from_the_accurate_complement() -> None:
    z = np.array([[37.0, 0.0]])
    got = evaluate_rows(
        z, LossSpec("multiclass", logits=True, loss="focal", gamma=5.0), labels=np.array([0])
    )
    want = categorical_reference([37.0, 0.0], True, 0, gamma=5.0)
    assert got.loss[0] == pytest.approx(want["loss"], rel=1e-14)


def test_binary_brier_from_a_logit_of_40_is_not_zero() -> None:
    got = evaluate_rows(np.array([37.0, 40.0]), LossSpec("binary", logits=True), labels=[1, 1])
    sigma = [1.0 / (1.0 + math.exp(37.0)), 1.0 / (1.0 + math.exp(40.0))]
    np.testing.assert_allclose(got.brier, np.square(sigma), rtol=1e-14)


def test_the_log_of_one_minus_a_small_probability_is_not_rounded() -> None:
    got = evaluate_rows(np.array([1e-15]), LossSpec("binary", logits=False), labels=[0])
    assert got.cross_entropy[0] == pytest.approx(-math.log1p(-1e-15), rel=1e-15)


def test_a_clipped_probabilitys_entropy_keeps_its_complement_term() -> None:
    got = evaluate_rows(np.array([1e-300, 0.0, 1.0]), LossSpec("binary", logits=False), [0, 0, 1])
    assert got.entropy[0] == pytest.approx(1e-300 * (690.7755278982137 + 1.0), rel=1e-14)
    assert got.entropy[1:].tolist() == [0.0, 0.0]


@pytest.mark.parametrize("logits", [True, False], ids=["logits", "probabilities"])
def test_a_prediction_close_to_its_soft_target_keeps_its_tiny_divergence(logits: bool) -> None:
    """The terms of KL(p || q) have both signs and cancel when q is close to p: the KL of
    1e-20 must not come out as a rounding error of 1e-17 (the targets' sum's own rounding, a
    few 1e-17, is part of the exact value)."""
    z = np.array([[2.0, 0.5, -1.0], [37.0, 0.0, 0.0], [0.3, 0.2, 0.1], [5.0, 5.0, -40.0]])
    e = np.exp(z - z.max(axis=1, keepdims=True))
    softmax = e / e.sum(axis=1, keepdims=True)
    targets = softmax * (1.0 + np.array([[1e-9, -2e-9, 3e-9]]))
    targets[1] = [1.0, 0.0, 0.0]
    targets /= targets.sum(axis=1, keepdims=True)
    preds = z if logits else softmax
    spec = LossSpec("multiclass", logits=logits)
    got = evaluate_rows(preds, spec, targets=targets)
    if logits:
        # q within 1e-9 of p: the softmax's own rounding (an ulp of q) is 1e-7 of q - p, and
        # KL ≈ Σ (q - p)² / 2q keeps about 1e-9 of its digits in float64 (the Brier score,
        # Σ (q - p)², fewer); the naive sum of terms was off by 60 % here.
        for i in range(z.shape[0]):
            want = categorical_reference(z[i].tolist(), True, target=targets[i].tolist())
            np.testing.assert_allclose(got.kl_divergence[i], want["kl_divergence"], rtol=1e-8)
    else:
        _check_categorical(got, preds, spec, targets=targets)
    if logits:  # q = σ(z) near its target where 1 - q is far below an ulp of 1
        x = np.array([37.0, 40.0, -37.0, 36.8])
        y = np.array([1.0 - 1e-16, 1.0 - 4.3e-18, 8e-17, 1.0 - 1e-16])
    else:
        x = np.array([0.3 + 1e-10, 1.0 - 1e-12, 1e-9, 0.5])
        y = np.array([0.3, 1.0 - 1.1e-12, 1.1e-9, 0.5 + 1e-16])
    got = evaluate_rows(x, LossSpec("binary", logits=logits), targets=y)
    for i in range(len(x)):
        want = bernoulli_reference(float(x[i]), logits, float(y[i]))
        assert_close(got.kl_divergence[i : i + 1], [want["kl_divergence"]], f"{x[i]}, {y[i]}")


# PyTorch 2.13.0 (CPU, float64 tensors) on the same rows, recorded by this snippet (torch is
# never a dependency; README, "Numerical accuracy"):
#     import torch, torch.nn.functional as F
#     t = lambda x: torch.tensor(x, dtype=torch.float64)
#     F.cross_entropy(t([[40.0, 0.0, 0.0]]), torch.tensor([0]))            # 0.0
#     torch.distributions.Categorical(logits=t([40.0, 0.0, 0.0])).entropy()  # 3.398683404233271e-16
#     ce = F.cross_entropy(t([[37.0, 0.0]]), torch.tensor([0]))
#     (1 - torch.exp(-ce)) ** 5 * ce                                         # 0.0
#     torch.distributions.Bernoulli(probs=t(1e-300)).entropy()               # 0.0
#     (torch.sigmoid(t(40.0)) - 1.0) ** 2                                    # 0.0
#     q = t([0.3 + 1e-10, 0.7 - 1e-10])
#     F.kl_div(torch.log(q), t([0.3, 0.7]), reduction="sum")  # 2.7755575615628914e-17
TORCH_2_13 = {
    "cross_entropy": 0.0,
    "entropy": 3.398683404233271e-16,
    "focal": 0.0,
    "bernoulli_entropy": 0.0,
    "brier": 0.0,
    "kl_divergence": 2.7755575615628914e-17,
}


def test_ce_eval_keeps_the_digits_pytorch_loses_on_the_same_rows() -> None:
    """Each of these rows PyTorch rounds to 0, or to a rounding error: ce-eval is exact."""
    z40 = np.array([[40.0, 0.0, 0.0]])
    multiclass = LossSpec("multiclass", logits=True)
    near = np.array([[0.3 + 1e-10, 0.7 - 1e-10]])
    ours = {
        "cross_entropy": evaluate_rows(z40, multiclass, labels=np.array([0])).cross_entropy[0],
        "entropy": evaluate_rows(z40, multiclass, labels=np.array([0])).entropy[0],
        "focal": evaluate_rows(
            np.array([[37.0, 0.0]]),
            LossSpec("multiclass", logits=True, loss="focal", gamma=5.0),
            labels=np.array([0]),
        ).loss[0],
        "bernoulli_entropy": evaluate_rows(
            np.array([1e-300]), LossSpec("binary", logits=False), labels=[0]
        ).entropy[0],
        "brier": evaluate_rows(np.array([40.0]), LossSpec("binary", logits=True), [1]).brier[0],
        "kl_divergence": evaluate_rows(
            near, LossSpec("multiclass", logits=False), targets=np.array([[0.3, 0.7]])
        ).kl_divergence[0],
    }
    exact = {
        "cross_entropy": categorical_reference([40.0, 0.0, 0.0], True, 0)["cross_entropy"],
        "entropy": categorical_reference([40.0, 0.0, 0.0], True, 0)["entropy"],
        "focal": categorical_reference([37.0, 0.0], True, 0, gamma=5.0)["loss"],
        "bernoulli_entropy": bernoulli_reference(1e-300, False, 0.0)["entropy"],
        "brier": bernoulli_reference(40.0, True, 1.0)["brier"],
        "kl_divergence": categorical_reference(near[0].tolist(), False, target=[0.3, 0.7])[
            "kl_divergence"
        ],
    }
    for name, value in exact.items():
        assert ours[name] == pytest.approx(value, rel=RTOL), name
        assert abs(TORCH_2_13[name] - value) > 1e-3 * value, name  # PyTorch's digits are gone


def test_perplexity_is_finite_up_to_log_dbl_max() -> None:
    assert math.log(np.finfo(np.float64).max) == LOG_DBL_MAX
    with mpmath.workprec(PREC):
        assert perplexity(LOG_DBL_MAX) == float(mpmath.exp(_mp(LOG_DBL_MAX)))  # ≈ 1.798e308
    assert perplexity(709.5) == math.exp(709.5)
    assert perplexity(np.nextafter(LOG_DBL_MAX, 800.0)) == math.inf
    z = np.array([[0.0, -709.5], [0.0, -709.5]])
    report = evaluate_arrays(z, [1, 1], logits=True)
    assert report.metrics["perplexity"] == pytest.approx(math.exp(709.5), rel=1e-13)


def test_binary_classwise_view_takes_the_class_0_probability_from_the_core() -> None:
    """Class 0's probability of a logit of 40 is σ(−40) ≈ 4.25e-18, not ``1 − σ(40)`` (which
    rounds to 0): its classwise ECE on rows of class 1 is exactly σ(−40)."""
    report = evaluate_arrays(np.array([40.0, 40.0]), [1, 1], logits=True)
    sigma = 1.0 / (1.0 + math.exp(40.0))
    assert report.per_class[0]["ece"] == pytest.approx(sigma, rel=1e-15, abs=0.0)


def test_a_logit_just_below_zero_is_predicted_negative_everywhere() -> None:
    """σ(-1e-17) rounds to 0.5, yet the logit says class 0: the accuracy, the per-class counts
    and p(true) all follow the logit (a multi-label label likewise)."""
    binary = evaluate_arrays(np.array([-1e-17, 40.0]), [0, 0], logits=True)
    assert binary.metrics["accuracy"] == 0.5
    assert [c["predicted"] for c in binary.per_class] == [1.0, 1.0]
    assert binary.per_class[0]["mean_true_prob"] == pytest.approx(
        (0.5 + 1.0 / (1.0 + math.exp(40.0))) / 2, rel=1e-15
    )
    z = np.array([[-1e-17, 40.0], [-1e-17, 40.0]])
    y = np.array([[0.0, 0.0], [1.0, 0.0]])
    multilabel = evaluate_arrays(z, targets=y, logits=True, task="multilabel")
    assert [c["predicted"] for c in multilabel.per_class] == [0.0, 2.0]
    assert multilabel.per_class[1]["mean_true_prob"] == pytest.approx(
        1.0 / (1.0 + math.exp(40.0)), rel=1e-15
    )
    assert multilabel.per_class[1]["accuracy"] == 0.0
    assert multilabel.per_class[0]["accuracy"] == 0.5


# ---------------------------------------------------------------------------------------------
# Long sums: a report's means over 1,000,000 rows


def _assert_exact_means(
    report: Any, refs: list[dict[str, float]], kind: np.ndarray, weights: np.ndarray, wkind: Any
) -> None:
    """The report's means against Σ count · weight · exact value over the kinds of row."""
    with mpmath.workprec(PREC):
        counts = np.zeros((len(refs), len(weights)), dtype=np.int64)
        np.add.at(counts, (kind, wkind), 1)
        cells = [(k, w) for k in range(len(refs)) for w in range(len(weights))]
        total_weight = mpmath.fsum(int(counts[k, w]) * _mp(weights[w]) for k, w in cells)

        def mean(name: str) -> float:
            total = mpmath.fsum(
                int(counts[k, w]) * _mp(weights[w]) * _mp(refs[k][name]) for k, w in cells
            )
            return float(total / total_weight)

        for name in ("loss", "cross_entropy", "entropy", "kl_divergence", "brier"):
            assert report.metrics[name] == pytest.approx(mean(name), rel=RTOL), name
        assert report.metrics["perplexity"] == pytest.approx(
            float(mpmath.exp(_mp(mean("cross_entropy")))), rel=RTOL
        )
    assert report.n_samples == kind.shape[0]


def test_the_means_of_a_million_rows_are_exact() -> None:
    """Eight kinds of row (confident, torn, tiny and huge losses), shuffled a million times
    over, with sample weights from a small set: the exact means are Σ count · weight · value
    over the kinds, and every mean of the report must match them to 1e-12 (the perplexity
    too, which multiplies the mean's error by the cross-entropy)."""
    kinds = np.array(
        [
            [40.0, 0.0, 0.0],
            [0.0, 30.0, -3.0],
            [1.0, 2.0, 3.0],
            [-5.0, 0.0, 5.0],
            [300.0, -300.0, 0.0],
            [1e-3, 0.0, -1e-3],
            [20.0, 19.0, 0.0],
            [0.0, 0.0, 0.0],
        ]
    )
    kind_labels = np.array([0, 1, 2, 0, 1, 2, 1, 0])
    weights = np.array([0.5, 1.0, 3.0, 0.1])
    rng = np.random.default_rng(2026)
    n = 1_000_000
    kind = rng.integers(0, len(kinds), n)
    wkind = rng.integers(0, len(weights), n)
    report = evaluate_arrays(
        kinds[kind], kind_labels[kind], sample_weight=weights[wkind], logits=True
    )
    refs = [
        categorical_reference(k.tolist(), True, int(t))
        for k, t in zip(kinds, kind_labels, strict=True)
    ]
    _assert_exact_means(report, refs, kind, weights, wkind)


def test_the_means_of_a_million_binary_rows_are_exact() -> None:
    """The same for binary logits with the focal loss: confident and wrong rows, a logit just
    below 0, the tails of σ."""
    kinds = np.array([40.0, -40.0, 37.0, -1e-17, 3.0, -0.5, 745.0, -20.0])
    kind_labels = np.array([1, 1, 0, 1, 1, 0, 1, 0])
    weights = np.array([0.5, 1.0, 3.0, 0.1])
    rng = np.random.default_rng(12)
    n = 1_000_000
    kind = rng.integers(0, len(kinds), n)
    wkind = rng.integers(0, len(weights), n)
    report = evaluate_arrays(
        kinds[kind],
        kind_labels[kind],
        sample_weight=weights[wkind],
        logits=True,
        loss="focal",
        gamma=2.0,
        alpha=0.25,
    )
    refs = [
        bernoulli_reference(float(k), True, float(t), gamma=2.0, alpha=0.25)
        for k, t in zip(kinds, kind_labels, strict=True)
    ]
    _assert_exact_means(report, refs, kind, weights, wkind)


# ---------------------------------------------------------------------------------------------
# A modifier changes the loss and nothing else


UNCHANGED = [
    f.name
    for f in fields(SampleValues)
    if f.name not in ("loss", "loss_weight", "label_loss") and f.name != "kl_divergence"
]


@st.composite
def _modifiers(draw: st.DrawFn, task: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if draw(st.booleans()):
        out["loss"] = "focal"
        out["gamma"] = draw(st.sampled_from([0.0, 0.5, 2.0, 5.0]))
        if task != "multiclass" and draw(st.booleans()):
            out["alpha"] = draw(st.floats(0.0, 1.0))
    if draw(st.booleans()):
        out["smoothing"] = draw(st.sampled_from([1e-10, 0.05, 0.1, 0.5]))
    if draw(st.booleans()) or not out:
        out["weights"] = True
    return out


_LOGIT_VALUES = st.one_of(
    st.floats(-50.0, 50.0),
    st.sampled_from([-1e4, -745.0, -40.0, -1e-17, 0.0, 1e-17, 37.0, 40.0, 745.0, 1e4]),
)


@settings(max_examples=60, deadline=None)
@given(
    z=hnp.arrays(
        np.float64, hnp.array_shapes(min_dims=2, max_dims=2, max_side=6), elements=_LOGIT_VALUES
    ),
    data=st.data(),
    logits=st.booleans(),
    soft=st.booleans(),
)
def test_a_modifier_never_changes_the_cross_entropy(
    z: np.ndarray, data: st.DataObject, logits: bool, soft: bool
) -> None:
    n, c = z.shape
    if logits:
        preds = z
    else:
        e = np.exp(z - z.max(axis=1, keepdims=True))
        preds = e / e.sum(axis=1, keepdims=True)
    labels = data.draw(hnp.arrays(np.int64, n, elements=st.integers(0, c - 1)))
    targets = None
    if soft:
        raw = data.draw(hnp.arrays(np.float64, (n, c), elements=st.sampled_from([0.0, 1.0, 3.0])))
        raw[:, 0] += 1.0
        targets = raw / raw.sum(axis=1, keepdims=True)
    modifiers = data.draw(_modifiers("multiclass"))
    plain_spec = LossSpec("multiclass", logits=logits)
    spec = _spec("multiclass", logits, c, plain_spec.eps, modifiers)
    kwargs: dict[str, Any] = {"targets": targets} if soft else {"labels": labels}
    plain = evaluate_rows(preds, plain_spec, workspace=Workspace(), **kwargs)
    modified = evaluate_rows(preds, spec, workspace=Workspace(), **kwargs)
    for name in [*UNCHANGED, "kl_divergence"]:
        a, b = getattr(plain, name), getattr(modified, name)
        if a is not None:
            np.testing.assert_array_equal(a, b, err_msg=name)


@settings(max_examples=40, deadline=None)
@given(
    z=hnp.arrays(
        np.float64, hnp.array_shapes(min_dims=2, max_dims=2, max_side=5), elements=_LOGIT_VALUES
    ),
    data=st.data(),
    logits=st.booleans(),
    task=st.sampled_from(["binary", "multilabel"]),
)
def test_a_modifier_never_changes_a_bernoulli_cross_entropy(
    z: np.ndarray, data: st.DataObject, logits: bool, task: str
) -> None:
    preds = z if logits else np.exp(-np.logaddexp(0.0, -z))
    if task == "binary":
        preds = preds[:, 0]
    y = data.draw(hnp.arrays(np.float64, preds.shape, elements=st.sampled_from([0.0, 1.0])))
    c = 2 if task == "binary" else preds.shape[1]
    modifiers = data.draw(_modifiers(task))
    plain_spec = LossSpec(task, logits=logits)
    spec = _spec(task, logits, c, plain_spec.eps, modifiers)
    kwargs: dict[str, Any] = {"labels": y.astype(np.int64)} if task == "binary" else {"targets": y}
    plain = evaluate_rows(preds, plain_spec, **kwargs)
    modified = evaluate_rows(preds, spec, **kwargs)
    for name in [*UNCHANGED, "kl_divergence"]:
        a, b = getattr(plain, name), getattr(modified, name)
        if a is not None:
            np.testing.assert_array_equal(a, b, err_msg=name)


_WIDE_LOGITS = st.one_of(
    st.floats(-60.0, 60.0),
    st.floats(-1e4, 1e4),
    st.sampled_from([-745.0, -40.0, -37.0, -1e-17, 0.0, 1e-17, 36.7, 37.0, 40.0, 745.0]),
)


@settings(max_examples=60, deadline=None)
@given(
    z=hnp.arrays(
        np.float64, hnp.array_shapes(min_dims=2, max_dims=2, max_side=5), elements=_WIDE_LOGITS
    ),
    data=st.data(),
    logits=st.booleans(),
    soft=st.booleans(),
    float32=st.booleans(),
)
def test_any_multiclass_row_matches_the_exact_value(
    z: np.ndarray, data: st.DataObject, logits: bool, soft: bool, float32: bool
) -> None:
    """Random rows, random modifiers: every per-row number within 1e-12 of the exact value.
    (From logits with soft targets, KL and Brier are left to the fixed rows: a target within
    an ulp of a rounded softmax makes them ill-conditioned beyond float64.)"""
    n, c = z.shape
    if logits:
        preds = z
    else:
        e = np.exp(z - z.max(axis=1, keepdims=True))
        preds = e / e.sum(axis=1, keepdims=True)
    if float32:
        preds = preds.astype(np.float32)
        if not np.all(np.isfinite(preds)):
            return
    modifiers = data.draw(_modifiers("multiclass"))
    spec = _spec("multiclass", logits, c, float(np.finfo(preds.dtype).eps), modifiers)
    wide = preds.astype(np.float64)
    if soft:
        raw = data.draw(hnp.arrays(np.float64, (n, c), elements=st.sampled_from([0.0, 1.0, 3.0])))
        raw[:, 0] += 1.0
        targets = raw / raw.sum(axis=1, keepdims=True)
        got = evaluate_rows(preds, spec, targets=targets)
    else:
        labels = data.draw(hnp.arrays(np.int64, n, elements=st.integers(0, c - 1)))
        got = evaluate_rows(preds, spec, labels=labels, workspace=Workspace())
    names = [*QUANTITIES, "kl_divergence"]
    if soft and logits:
        names = [m for m in names if m not in ("kl_divergence", "brier")]
    for i in range(n):
        want = categorical_reference(
            wide[i].tolist(),
            logits,
            None if soft else int(labels[i]),
            targets[i].tolist() if soft else None,
            clip_eps=spec.eps,
            **_reference_options(spec),
        )
        for name in names:
            assert_close(getattr(got, name)[i : i + 1], [want[name]], f"{name}, row {wide[i]}")


@settings(max_examples=60, deadline=None)
@given(
    x=hnp.arrays(np.float64, st.integers(1, 6), elements=_WIDE_LOGITS),
    data=st.data(),
    logits=st.booleans(),
    soft=st.booleans(),
)
def test_any_binary_row_matches_the_exact_value(
    x: np.ndarray, data: st.DataObject, logits: bool, soft: bool
) -> None:
    preds = x if logits else np.exp(-np.logaddexp(0.0, -x))
    y = data.draw(
        hnp.arrays(
            np.float64,
            x.shape,
            elements=st.sampled_from([0.0, 1.0, 0.3, 0.5]) if soft else st.sampled_from([0.0, 1.0]),
        )
    )
    spec = _spec("binary", logits, 2, 2.0**-52, data.draw(_modifiers("binary")))
    hard = not soft or bool(np.all((y == 0.0) | (y == 1.0)))
    got = evaluate_rows(
        preds, spec, labels=y.astype(np.int64) if hard else None, targets=None if hard else y
    )
    names = [*QUANTITIES, "kl_divergence"]
    if soft and logits:
        names = [m for m in names if m not in ("kl_divergence", "brier")]
    for i, v in enumerate(preds.tolist()):
        want = bernoulli_reference(v, logits, float(y[i]), **_binary_reference_options(spec))
        for name in names:
            assert_close(getattr(got, name)[i : i + 1], [want[name]], f"{name}, {v}, y={y[i]}")


# ---------------------------------------------------------------------------------------------
# Through the command: a CSV file in, the per-sample CSV and the JSON report out


@pytest.mark.parametrize(
    "options",
    [[], ["--loss", "focal", "--gamma", "5"], ["--smoothing", "0.1", "--class-weights", "1,2,0.5"]],
    ids=["plain", "focal", "smoothing-weights"],
)
def test_the_command_writes_exact_per_sample_values_and_means(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str]
) -> None:
    import csv
    import json

    from ce_cli.cli.main import main

    rows = [([40.0, 0.0, 0.0], 0), ([37.0, 0.0, -3.0], 1), ([1e4, -1e4, 0.0], 2),
            ([5.0, 5.0, 0.0], 1), ([0.5, -0.25, 0.125], 0), ([700.0, -1.0, 3.0], 0)]  # fmt: skip
    source = tmp_path / "logits.csv"
    source.write_text(
        "label,logit_a,logit_b,logit_c\n"
        + "".join(f"{'abc'[t]},{z[0]!r},{z[1]!r},{z[2]!r}\n" for z, t in rows)
    )
    samples, out = tmp_path / "samples.csv", tmp_path / "report.json"
    argv = [str(source), "--logits", "--per-sample", str(samples), "-o", str(out)]
    code = main([*argv, "--format", "json", "-q", *options])
    assert code == 0, capsys.readouterr().err
    spec = dict(zip(options[::2], options[1::2], strict=True))
    gamma = float(spec["--gamma"]) if "--loss" in spec else 0.0
    weights = (
        [float(v) for v in spec["--class-weights"].split(",")]
        if "--class-weights" in spec
        else None
    )
    smoothing = float(spec.get("--smoothing", 0.0))
    refs = [
        categorical_reference(z, True, t, gamma=gamma, smoothing=smoothing, weights=weights)
        for z, t in rows
    ]
    with samples.open() as f:
        written = list(csv.DictReader(f))
    columns = {"loss": "loss", "cross_entropy": "cross_entropy", "p_true": "true_prob",
               "confidence": "confidence", "entropy": "entropy"}  # fmt: skip
    for got, want in zip(written, refs, strict=True):
        for column, name in columns.items():
            assert_close(np.array([float(got[column])]), [want[name]], f"{column}: {got}")
    metrics = json.loads(out.read_text())["metrics"]
    with mpmath.workprec(PREC):
        n = len(rows)
        denominator = n if weights is None else math.fsum(weights[t] for _, t in rows)
        for name in ("cross_entropy", "entropy", "brier"):
            exact = float(mpmath.fsum(_mp(r[name]) for r in refs) / n)
            assert metrics[name] == pytest.approx(exact, rel=RTOL), name
        exact_loss = float(mpmath.fsum(_mp(r["loss"]) for r in refs) / _mp(denominator))
        assert metrics["loss"] == pytest.approx(exact_loss, rel=RTOL)


@pytest.mark.parametrize("logits", [True, False], ids=["logits", "probabilities"])
def test_a_modifier_leaves_every_other_number_of_the_report_alone(logits: bool) -> None:
    rng = np.random.default_rng(3)
    z = rng.standard_normal((5000, 4)) * 8.0
    z[::7, 0] += 40.0  # confident rows
    e = np.exp(z - z.max(axis=1, keepdims=True))
    preds = z if logits else e / e.sum(axis=1, keepdims=True)
    labels = rng.integers(0, 4, 5000)
    plain = evaluate_arrays(preds, labels, logits=logits).to_dict()
    for options in (
        {"smoothing": 0.1},
        {"loss": "focal", "gamma": 5.0},
        {"class_weights": [1.0, 2.0, 0.5, 3.0]},
    ):
        modified = evaluate_arrays(preds, labels, logits=logits, **options).to_dict()
        for name, value in plain["metrics"].items():
            if name != "loss":
                assert modified["metrics"][name] == value, (options, name)
        for a, b in zip(plain["per_class"], modified["per_class"], strict=True):
            assert {k: v for k, v in a.items() if k != "loss"} == {
                k: v for k, v in b.items() if k != "loss"
            }, options
