"""Every number of SPEC.md "The numbers" against hand-worked values and outside anchors.

Anchors: the course notes' worked examples (bits), scikit-learn (``log_loss``, ``brier_score_loss``,
``accuracy_score``, ``calibration_curve``, ``compute_class_weight``), SciPy (``entropy``) and
straightforward NumPy implementations of the SPEC formulas written here, independently of
``ce_cli.core``. Comparisons are float64 to ``rel=1e-9`` unless a comment says why not.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import expit, softmax
from scipy.stats import entropy as scipy_entropy
from sklearn.calibration import calibration_curve
from sklearn.metrics import accuracy_score, brier_score_loss, log_loss
from sklearn.utils.class_weight import compute_class_weight

from ce_cli.arrays import evaluate_arrays

REL = 1e-9
LN2 = math.log(2.0)
LN10 = math.log(10.0)
EPS64 = float(np.finfo(np.float64).eps)
EPS32 = float(np.finfo(np.float32).eps)


def problem(n: int, k: int, seed: int, scale: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities (softmax of normal logits, no value near eps) and labels in ``0..k-1``."""
    rng = np.random.default_rng(seed)
    probs = softmax(rng.normal(size=(n, k)) * scale, axis=1)
    return probs, rng.integers(0, k, n)


def one_hot(labels: np.ndarray, k: int) -> np.ndarray:
    return np.eye(k)[labels]


# -- the course notes' worked examples (bits) --------------------------------------------------


def test_notes_multiclass_example_in_bits() -> None:
    # y = [0, 1, 0] (dog), q = [0.2, 0.7, 0.1]: CE = -log2(0.7) ≈ 0.514 bits.
    r = evaluate_arrays([[0.2, 0.7, 0.1]], [1], base="bits")
    m = r.metrics
    assert m["cross_entropy"] == pytest.approx(-math.log2(0.7), rel=1e-12)
    assert m["cross_entropy"] == pytest.approx(0.514, abs=1e-3)  # the notes truncate 0.5146
    assert m["loss"] == pytest.approx(-math.log2(0.7), rel=1e-12)
    assert m["kl_divergence"] == pytest.approx(-math.log2(0.7), rel=1e-12)
    assert m["label_entropy"] == 0.0
    # perplexity = exp(CE in nats) = 1 / 0.7, whatever the base.
    assert m["perplexity"] == pytest.approx(1 / 0.7, rel=1e-12)
    # Brier = 0.2² + 0.3² + 0.1² = 0.14; H(q) in bits.
    assert m["brier"] == pytest.approx(0.14, rel=1e-12)
    assert m["entropy"] == pytest.approx(-sum(x * math.log2(x) for x in (0.2, 0.7, 0.1)), rel=1e-12)
    assert m["accuracy"] == 1.0


@pytest.mark.parametrize(("q_true", "bits"), [(0.9, 0.152), (0.5, 1.0), (0.1, 3.322)])
def test_notes_table_in_bits(q_true: float, bits: float) -> None:
    rest = (1.0 - q_true) / 2
    multiclass = evaluate_arrays([[rest, q_true, rest]], [1], base="bits").metrics
    binary = evaluate_arrays([q_true], [1], base="bits").metrics
    for m in (multiclass, binary):
        assert m["cross_entropy"] == pytest.approx(-math.log2(q_true), rel=1e-12)
        assert m["cross_entropy"] == pytest.approx(bits, abs=1e-3)


def test_notes_multilabel_example_in_bits() -> None:
    # y = [1, 0, 1], q = [0.8, 0.4, 0.6]: BCE per label 0.322, 0.737, 0.737; total 1.796 bits.
    r = evaluate_arrays([[0.8, 0.4, 0.6]], targets=[[1, 0, 1]], task="multilabel", base="bits")
    per_label = [row["loss"] for row in r.per_class]
    expected = [-math.log2(0.8), -math.log2(0.6), -math.log2(0.6)]
    assert per_label == pytest.approx(expected, rel=1e-12)
    assert per_label == pytest.approx([0.322, 0.737, 0.737], abs=5e-4)
    assert r.metrics["loss"] == pytest.approx(sum(expected), rel=1e-12)
    assert r.metrics["loss"] == pytest.approx(1.796, abs=5e-4)
    assert r.metrics["cross_entropy"] == pytest.approx(sum(expected), rel=1e-12)
    assert r.metrics["loss_per_label"] == pytest.approx(sum(expected) / 3, rel=1e-12)
    assert r.metrics["subset_accuracy"] == 1.0


# -- scikit-learn: log_loss ----------------------------------------------------------------------


@pytest.mark.parametrize("weighted", [False, True])
def test_binary_log_loss_matches_sklearn_with_exact_zero_and_one(weighted: bool) -> None:
    rng = np.random.default_rng(101)
    q = rng.uniform(0.0, 1.0, 300)
    y = (rng.uniform(size=300) < q).astype(np.int64)
    # Exact 0 and 1, confidently wrong (clipped to eps: loss -log(eps) ≈ 36) and right (≈ 0).
    q[:4] = [0.0, 1.0, 0.0, 1.0]
    y[:4] = [1, 0, 0, 1]
    s = rng.uniform(0.1, 3.0, 300) if weighted else None
    r = evaluate_arrays(q, y, sample_weight=s)
    assert r.detection.task == "binary"
    expected = log_loss(y, y_proba=q, sample_weight=s)
    assert r.metrics["cross_entropy"] == pytest.approx(expected, rel=REL)
    assert r.metrics["loss"] == pytest.approx(expected, rel=REL)
    assert r.counts["clipped_rows"] == 4
    # The clip really matters here: the wrong rows cost -log(eps) ≈ 36 nats, not infinity.
    assert math.isfinite(r.metrics["cross_entropy"])


@pytest.mark.parametrize("weighted", [False, True])
def test_multiclass_log_loss_matches_sklearn_with_exact_zero_and_one(weighted: bool) -> None:
    probs, labels = problem(400, 4, seed=102)
    probs[:3] = [[0.0, 0.0, 1.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.5, 0.5, 0.0]]
    labels[:3] = [0, 0, 3]  # wrong (clipped), right (clipped), wrong on an exact 0
    s = np.random.default_rng(7).uniform(0.1, 3.0, 400) if weighted else None
    r = evaluate_arrays(probs, labels, sample_weight=s)
    expected = log_loss(labels, y_proba=probs, labels=range(4), sample_weight=s)
    assert r.metrics["cross_entropy"] == pytest.approx(expected, rel=REL)
    assert r.counts["clipped_rows"] == 3


@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_float32_input_clips_with_float32_eps(task: str) -> None:
    if task == "binary":
        rng = np.random.default_rng(103)
        q = rng.uniform(0.0, 1.0, 200).astype(np.float32)
        y = rng.integers(0, 2, 200)
        q[:2], y[:2] = [0.0, 1.0], [1, 0]
        q64 = q.astype(np.float64)
        true_q = np.where(y == 1, q64, 1.0 - q64)
    else:
        probs, y = problem(200, 3, seed=104)
        q = probs.astype(np.float32)
        q[:2] = [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
        y[:2] = [0, 1]
        true_q = q.astype(np.float64)[np.arange(200), y]

    def clipped_log_loss(eps: float) -> float:
        return float(-np.mean(np.log(np.clip(true_q, eps, 1.0 - eps))))

    r = evaluate_arrays(q, y)
    assert r.detection.eps == EPS32
    assert r.counts["clipped_rows"] == 2
    # ce-eval: the float32 values, clipped at float32's eps, then float64 arithmetic.
    assert r.metrics["cross_entropy"] == pytest.approx(clipped_log_loss(EPS32), rel=1e-12)
    # scikit-learn clips at the same eps but takes the log and the mean in float32, so it agrees
    # to float32 precision only (measured 3e-9 binary, 9e-8 multi-class here).
    expected = log_loss(y, y_proba=q, labels=None if task == "binary" else range(3))
    assert r.metrics["cross_entropy"] == pytest.approx(expected, rel=1e-6)
    # float64's eps would give a visibly different number (-log(eps) 36.0 instead of 15.9).
    assert abs(r.metrics["cross_entropy"] - clipped_log_loss(EPS64)) > 0.1


# -- scikit-learn: Brier score and accuracy ----------------------------------------------------


@pytest.mark.parametrize("weighted", [False, True])
def test_binary_brier_and_accuracy_match_sklearn(weighted: bool) -> None:
    rng = np.random.default_rng(105)
    q = rng.uniform(0.0, 1.0, 300)
    q[:3] = [0.5, 0.0, 1.0]  # 0.5 is predicted positive (q >= 0.5)
    y = rng.integers(0, 2, 300)
    s = rng.uniform(0.1, 3.0, 300) if weighted else None
    m = evaluate_arrays(q, y, sample_weight=s).metrics
    # scikit-learn's default for 1-D probabilities is the mean of (q - y)², as the SPEC says.
    assert m["brier"] == pytest.approx(brier_score_loss(y, q, sample_weight=s), rel=REL)
    assert m["brier"] == pytest.approx(np.average((q - y) ** 2, weights=s), rel=REL)
    assert m["accuracy"] == pytest.approx(
        accuracy_score(y, (q >= 0.5).astype(int), sample_weight=s), rel=REL
    )


@pytest.mark.parametrize("k", [3, 5])
@pytest.mark.parametrize("weighted", [False, True])
def test_multiclass_brier_and_accuracy_match_sklearn(k: int, weighted: bool) -> None:
    probs, labels = problem(300, k, seed=106 + k)
    s = np.random.default_rng(k).uniform(0.1, 3.0, 300) if weighted else None
    m = evaluate_arrays(probs, labels, sample_weight=s).metrics
    # scikit-learn >= 1.7 with >= 3 columns: mean over rows of the sum over classes, not halved.
    sk = brier_score_loss(labels, probs, labels=list(range(k)), sample_weight=s)
    definition = np.average(((probs - one_hot(labels, k)) ** 2).sum(axis=1), weights=s)
    assert sk == pytest.approx(definition, rel=1e-12)
    assert m["brier"] == pytest.approx(sk, rel=REL)
    assert m["accuracy"] == pytest.approx(
        accuracy_score(labels, probs.argmax(axis=1), sample_weight=s), rel=REL
    )


def test_two_column_multiclass_brier_is_twice_sklearns() -> None:
    # Documented difference: scikit-learn's scale_by_half="auto" halves the Brier score when there
    # are fewer than 3 columns; the SPEC's Σ_j (q_j - p_j)² does not, so for two columns ce-eval's
    # multi-class Brier is twice scikit-learn's default (and equals scale_by_half=False).
    probs, labels = problem(300, 2, seed=108)
    r = evaluate_arrays(probs, labels, task="multiclass")
    assert r.detection.task == "multiclass"
    assert r.metrics["brier"] == pytest.approx(
        2 * brier_score_loss(labels, probs, labels=[0, 1]), rel=REL
    )
    assert r.metrics["brier"] == pytest.approx(
        brier_score_loss(labels, probs, labels=[0, 1], scale_by_half=False), rel=REL
    )
    # The binary task (one column, P(class 1)) is scikit-learn's default, (q - y)².
    binary = evaluate_arrays(probs[:, 1], labels)
    assert binary.metrics["brier"] == pytest.approx(brier_score_loss(labels, probs[:, 1]), rel=REL)


# -- scikit-learn: calibration_curve -------------------------------------------------------------


@pytest.mark.parametrize("n_bins", [5, 10, 15])
def test_binary_calibration_bins_match_sklearn_calibration_curve(n_bins: int) -> None:
    rng = np.random.default_rng(109 + n_bins)
    q = rng.uniform(0.0, 1.0, 3000)
    y = (rng.uniform(size=3000) < q**1.5).astype(np.int64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # scikit-learn puts a value on an inner edge in the lower bin, the SPEC in the upper one:
    # compare only data with no value on an edge.
    assert not np.isin(q, edges).any()
    r = evaluate_arrays(q, y, bins=n_bins)
    prob_true, prob_pred = calibration_curve(y, q, n_bins=n_bins, strategy="uniform")
    bins = [b for b in r.calibration["bins"] if b["count"] > 0]
    assert len(bins) == len(prob_true)
    np.testing.assert_allclose([b["accuracy"] for b in bins], prob_true, rtol=1e-12, atol=0)
    np.testing.assert_allclose([b["confidence"] for b in bins], prob_pred, rtol=1e-12, atol=0)
    # ECE / MCE from scikit-learn's per-bin means and the bin sizes.
    counts = np.bincount(np.searchsorted(edges[1:-1], q), minlength=n_bins)
    counts = counts[counts > 0]
    assert [b["count"] for b in bins] == counts.tolist()
    gaps = np.abs(prob_true - prob_pred)
    assert r.metrics["ece"] == pytest.approx(float(np.sum(counts / 3000 * gaps)), rel=REL)
    assert r.metrics["mce"] == pytest.approx(float(gaps.max()), rel=REL)


# -- SciPy: entropy, KL, label entropy ----------------------------------------------------------


def test_entropy_matches_scipy_in_bits_with_zeros_and_one_hot_rows() -> None:
    probs, labels = problem(300, 4, seed=120)
    probs[0] = [0.0, 0.0, 1.0, 0.0]  # H = 0 (0 log 0 = 0, and 1 log 1 = 0 despite the clip)
    probs[1] = [0.5, 0.0, 0.5, 0.0]  # H = 1 bit
    m = evaluate_arrays(probs, labels, base="bits").metrics
    assert m["entropy"] == pytest.approx(scipy_entropy(probs, base=2, axis=1).mean(), rel=REL)


def test_binary_entropy_matches_scipy() -> None:
    rng = np.random.default_rng(121)
    q = rng.uniform(0.0, 1.0, 300)
    q[:2] = [0.0, 1.0]
    y = rng.integers(0, 2, 300)
    m = evaluate_arrays(q, y, base="bans").metrics
    expected = scipy_entropy(np.stack([q, 1 - q]), base=10, axis=0).mean()
    assert m["entropy"] == pytest.approx(expected, rel=REL)


@pytest.mark.parametrize("base", ["nats", "bits"])
def test_soft_target_kl_and_label_entropy_match_scipy(base: str) -> None:
    probs, _ = problem(300, 4, seed=122)
    targets = np.random.default_rng(123).dirichlet([0.7] * 4, 300)
    targets[0] = [0.0, 0.25, 0.75, 0.0]  # zeros in p: 0 log 0 = 0
    targets[1] = [0.0, 0.0, 1.0, 0.0]
    scipy_base = None if base == "nats" else 2
    r = evaluate_arrays(probs, targets=targets, base=base)
    assert r.detection.soft_targets
    m = r.metrics
    kl = scipy_entropy(targets, probs, base=scipy_base, axis=1).mean()
    h_p = scipy_entropy(targets, base=scipy_base, axis=1).mean()
    ce = -(targets * np.log(probs)).sum(axis=1).mean() / (1.0 if base == "nats" else LN2)
    assert m["kl_divergence"] == pytest.approx(kl, rel=REL)
    assert m["label_entropy"] == pytest.approx(h_p, rel=REL)
    assert m["cross_entropy"] == pytest.approx(ce, rel=REL)
    assert m["entropy"] == pytest.approx(
        scipy_entropy(probs, base=scipy_base, axis=1).mean(), rel=REL
    )


def test_multilabel_soft_target_kl_and_entropies_match_scipy() -> None:
    rng = np.random.default_rng(124)
    q = rng.uniform(0.01, 0.99, (200, 3))
    y = rng.uniform(0.0, 1.0, (200, 3))
    y[0] = [0.0, 1.0, 0.5]
    m = evaluate_arrays(q, targets=y, task="multilabel").metrics
    # Bernoulli per label, summed over the labels of a row, averaged over rows.
    kl = scipy_entropy(np.stack([y, 1 - y]), np.stack([q, 1 - q]), axis=0).sum(axis=1).mean()
    h_p = scipy_entropy(np.stack([y, 1 - y]), axis=0).sum(axis=1).mean()
    h_q = scipy_entropy(np.stack([q, 1 - q]), axis=0).sum(axis=1).mean()
    assert m["kl_divergence"] == pytest.approx(kl, rel=REL)
    assert m["label_entropy"] == pytest.approx(h_p, rel=REL)
    assert m["entropy"] == pytest.approx(h_q, rel=REL)


# -- focal loss: an independent NumPy implementation of the SPEC formula --------------------------


def focal_reference(
    q: np.ndarray,
    *,
    labels: np.ndarray | None = None,
    targets: np.ndarray | None = None,
    gamma: float = 2.0,
    smoothing: float = 0.0,
    class_weights: np.ndarray | None = None,
    sample_weight: np.ndarray | None = None,
) -> float:
    """Σ_i s_i L_i / Σ_i s_i d_i with L_i = -Σ_j w_j p̃_ij (1 - q_ij)^γ log q_ij.

    ``d_i = w_{t_i}`` for hard labels with class weights (PyTorch's denominator), else 1.
    """
    n, c = q.shape
    p = one_hot(labels, c) if labels is not None else np.asarray(targets, dtype=np.float64)
    p_smoothed = (1.0 - smoothing) * p + smoothing / c
    w = np.ones(c) if class_weights is None else class_weights
    rows = -(w * p_smoothed * (1.0 - q) ** gamma * np.log(q)).sum(axis=1)
    s = np.ones(n) if sample_weight is None else sample_weight
    d = w[labels] if (labels is not None and class_weights is not None) else np.ones(n)
    return float((s * rows).sum() / (s * d).sum())


@pytest.mark.parametrize("gamma", [0.5, 2.0])
@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.15])
@pytest.mark.parametrize("class_weights", [None, (0.5, 2.0, 1.0, 3.0)])
@pytest.mark.parametrize("weighted", [False, True])
def test_multiclass_focal_matches_the_formula(
    gamma: float,
    soft: bool,
    smoothing: float,
    class_weights: tuple[float, ...] | None,
    weighted: bool,
) -> None:
    rng = np.random.default_rng(130)
    z = rng.normal(size=(250, 4)) * 2.0
    labels = rng.integers(0, 4, 250)
    targets = rng.dirichlet([0.8] * 4, 250) if soft else None
    s = rng.uniform(0.1, 3.0, 250) if weighted else None
    r = evaluate_arrays(
        z,
        None if soft else labels,
        targets=targets,
        sample_weight=s,
        logits=True,
        loss="focal",
        gamma=gamma,
        smoothing=smoothing,
        class_weights=class_weights,
    )
    expected = focal_reference(
        softmax(z, axis=1),
        labels=None if soft else labels,
        targets=targets,
        gamma=gamma,
        smoothing=smoothing,
        class_weights=None if class_weights is None else np.array(class_weights),
        sample_weight=s,
    )
    assert r.metrics["loss"] == pytest.approx(expected, rel=REL)
    # cross_entropy stays the plain, sample-weighted CE of the same rows.
    p = targets if soft else one_hot(labels, 4)
    plain = np.average(-(p * np.log(softmax(z, axis=1))).sum(axis=1), weights=s)
    assert r.metrics["cross_entropy"] == pytest.approx(plain, rel=REL)


@pytest.mark.parametrize(("gamma", "alpha"), [(2.0, 0.25), (2.0, None), (0.5, 0.75), (1.0, 0.0)])
def test_binary_focal_matches_torchvision_formula(gamma: float, alpha: float | None) -> None:
    # torchvision.ops.sigmoid_focal_loss: -α_t (1 - q_t)^γ log q_t, α_t = α (y=1), 1-α (y=0).
    rng = np.random.default_rng(131)
    z = rng.normal(size=400) * 3.0
    y = rng.integers(0, 2, 400)
    q = expit(z)
    q_t = np.where(y == 1, q, 1 - q)
    alpha_t = 1.0 if alpha is None else np.where(y == 1, alpha, 1 - alpha)
    expected = np.mean(-alpha_t * (1 - q_t) ** gamma * np.log(q_t))
    r = evaluate_arrays(z, y, logits=True, loss="focal", gamma=gamma, alpha=alpha)
    assert r.metrics["loss"] == pytest.approx(expected, rel=REL)


def test_multilabel_focal_with_smoothing_alpha_and_label_weights_matches_the_formula() -> None:
    rng = np.random.default_rng(132)
    z = rng.normal(size=(200, 3)) * 2.0
    y = rng.integers(0, 2, (200, 3)).astype(np.float64)
    w = np.array([1.0, 0.5, 2.0])
    eps, gamma, alpha = 0.1, 1.5, 0.3
    q = expit(z)
    y_s = y * (1 - eps) + eps / 2
    per_label = -w * (
        alpha * y_s * (1 - q) ** gamma * np.log(q)
        + (1 - alpha) * (1 - y_s) * q**gamma * np.log(1 - q)
    )
    r = evaluate_arrays(
        z,
        targets=y,
        task="multilabel",
        logits=True,
        loss="focal",
        gamma=gamma,
        alpha=alpha,
        smoothing=eps,
        class_weights=tuple(w),
    )
    assert r.metrics["loss"] == pytest.approx(per_label.sum(axis=1).mean(), rel=REL)
    assert r.metrics["loss_per_label"] == pytest.approx(per_label.mean(), rel=REL)


def test_focal_gamma_zero_without_alpha_is_cross_entropy() -> None:
    probs, labels = problem(300, 3, seed=133)
    m = evaluate_arrays(probs, labels, loss="focal", gamma=0.0).metrics
    assert m["loss"] == pytest.approx(-np.mean(np.log(probs[np.arange(300), labels])), rel=REL)
    # and γ > 0 really changes it (focal down-weights easy rows).
    focal = evaluate_arrays(probs, labels, loss="focal", gamma=2.0).metrics
    assert focal["loss"] < 0.9 * m["loss"]


# -- class weights and sample weights ------------------------------------------------------------


def test_balanced_class_weights_are_sklearns_and_equal_explicit_weights() -> None:
    probs, labels = problem(500, 3, seed=140)
    labels[:250] = 0  # imbalanced: class 0 has more than half the rows
    expected_w = compute_class_weight("balanced", classes=np.arange(3), y=labels)
    counts = np.bincount(labels, minlength=3)
    assert expected_w == pytest.approx(500 / (3 * counts), rel=1e-12)
    balanced = evaluate_arrays(probs, labels, class_weights="balanced")
    explicit = evaluate_arrays(probs, labels, class_weights=tuple(expected_w))
    assert balanced.class_weights == pytest.approx(list(expected_w), rel=1e-12)
    assert balanced.metrics["loss"] == pytest.approx(explicit.metrics["loss"], rel=1e-12)
    nll = -np.log(probs[np.arange(500), labels])
    w_t = expected_w[labels]
    assert balanced.metrics["loss"] == pytest.approx((w_t * nll).sum() / w_t.sum(), rel=REL)
    assert balanced.metrics["cross_entropy"] == pytest.approx(nll.mean(), rel=REL)


def test_balanced_class_weights_binary() -> None:
    rng = np.random.default_rng(141)
    q = rng.uniform(0.05, 0.95, 300)
    y = (rng.uniform(size=300) < 0.2).astype(np.int64)
    expected_w = compute_class_weight("balanced", classes=np.array([0, 1]), y=y)
    r = evaluate_arrays(q, y, class_weights="balanced")
    assert r.class_weights == pytest.approx(list(expected_w), rel=1e-12)
    nll = -np.where(y == 1, np.log(q), np.log(1 - q))
    w_t = expected_w[y]
    assert r.metrics["loss"] == pytest.approx((w_t * nll).sum() / w_t.sum(), rel=REL)


def test_sample_weights_every_mean() -> None:
    probs, labels = problem(300, 3, seed=142)
    s = np.random.default_rng(143).uniform(0.0, 3.0, 300)
    s[:5] = 0.0  # zero weight rows count for nothing
    m = evaluate_arrays(probs, labels, sample_weight=s).metrics
    nll = -np.log(probs[np.arange(300), labels])
    assert m["loss"] == pytest.approx((s * nll).sum() / s.sum(), rel=REL)
    assert m["cross_entropy"] == pytest.approx((s * nll).sum() / s.sum(), rel=REL)
    assert m["entropy"] == pytest.approx(
        np.average(scipy_entropy(probs, axis=1), weights=s), rel=REL
    )
    assert m["brier"] == pytest.approx(
        np.average(((probs - one_hot(labels, 3)) ** 2).sum(axis=1), weights=s), rel=REL
    )
    correct = probs.argmax(axis=1) == labels
    assert m["accuracy"] == pytest.approx(np.average(correct, weights=s), rel=REL)
    assert m["perplexity"] == pytest.approx(math.exp((s * nll).sum() / s.sum()), rel=REL)


def test_sample_and_class_weights_denominator() -> None:
    probs, labels = problem(300, 3, seed=144)
    s = np.random.default_rng(145).uniform(0.1, 3.0, 300)
    w = np.array([1.0, 4.0, 0.25])
    m = evaluate_arrays(probs, labels, sample_weight=s, class_weights=tuple(w)).metrics
    nll = -np.log(probs[np.arange(300), labels])
    assert m["loss"] == pytest.approx((s * w[labels] * nll).sum() / (s * w[labels]).sum(), rel=REL)
    assert m["cross_entropy"] == pytest.approx((s * nll).sum() / s.sum(), rel=REL)


def test_integer_sample_weights_equal_repeated_rows() -> None:
    probs, labels = problem(120, 4, seed=146)
    counts = np.random.default_rng(147).integers(0, 4, 120)
    weighted = evaluate_arrays(probs, labels, sample_weight=counts.astype(np.float64), bins=7)
    repeated = evaluate_arrays(np.repeat(probs, counts, axis=0), np.repeat(labels, counts), bins=7)
    for key in ("loss", "cross_entropy", "entropy", "brier", "accuracy", "ece", "mce"):
        assert weighted.metrics[key] == pytest.approx(repeated.metrics[key], rel=REL), key


def test_binary_class_weights_count_as_two_classes() -> None:
    rng = np.random.default_rng(148)
    q = rng.uniform(0.05, 0.95, 300)
    y = rng.integers(0, 2, 300)
    s = rng.uniform(0.1, 2.0, 300)
    w = np.array([1.5, 0.5])
    m = evaluate_arrays(q, y, class_weights=tuple(w), sample_weight=s).metrics
    nll = -np.where(y == 1, np.log(q), np.log(1 - q))
    assert m["loss"] == pytest.approx((s * w[y] * nll).sum() / (s * w[y]).sum(), rel=REL)


def test_binary_smoothing_and_class_weights_formula() -> None:
    # Smoothed binary target y(1-ε) + ε/2; weights w_1 on the positive term, w_0 on the negative
    # (the two-class PyTorch formula); hard labels divide by Σ w_{y_i}.
    rng = np.random.default_rng(149)
    z = rng.normal(size=300) * 2.0
    y = rng.integers(0, 2, 300)
    w0, w1, eps = 1.5, 0.5, 0.2
    y_s = y * (1 - eps) + eps / 2
    q = expit(z)
    rows = -(w1 * y_s * np.log(q) + w0 * (1 - y_s) * np.log(1 - q))
    m = evaluate_arrays(z, y, logits=True, smoothing=eps, class_weights=(w0, w1)).metrics
    assert m["loss"] == pytest.approx(rows.sum() / np.where(y == 1, w1, w0).sum(), rel=REL)


# -- bases and perplexity -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "divisor"), [("bits", LN2), ("2", LN2), ("bans", LN10), ("10", LN10)]
)
def test_bases_divide_the_log_metrics(base: str, divisor: float) -> None:
    probs, _ = problem(200, 3, seed=150)
    targets = np.random.default_rng(151).dirichlet([1.0] * 3, 200)
    nats = evaluate_arrays(probs, targets=targets, loss="focal", gamma=1.0).metrics
    other = evaluate_arrays(probs, targets=targets, loss="focal", gamma=1.0, base=base).metrics
    for key in ("loss", "cross_entropy", "entropy", "label_entropy", "kl_divergence"):
        assert other[key] == pytest.approx(nats[key] / divisor, rel=1e-12), key
    for key in ("perplexity", "accuracy", "brier", "ece", "mce"):
        assert other[key] == pytest.approx(nats[key], rel=1e-12), key
    ce_nats = -(targets * np.log(probs)).sum(axis=1).mean()
    assert other["perplexity"] == pytest.approx(math.exp(ce_nats), rel=REL)


# -- ECE / MCE, hand-worked -----------------------------------------------------------------------


def test_binary_ece_mce_hand_worked_with_edges() -> None:
    # 4 bins, edges 0, 0.25, 0.5, 0.75, 1 (exact in binary floating point).
    #   q     y   bin
    #   0.10  0   0 [0, .25)
    #   0.25  0   1 [.25, .5)   on an edge: the upper bin
    #   0.40  1   1
    #   0.50  1   2 [.5, .75)   on an edge
    #   0.75  1   3 [.75, 1]    on an edge
    #   0.90  1   3
    #   1.00  0   3             1.0 goes to the last bin
    # bin 0: n 1, conf 0.1,              acc 0   -> gap 0.1
    # bin 1: n 2, conf 0.325,            acc 0.5 -> gap 0.175
    # bin 2: n 1, conf 0.5,              acc 1   -> gap 0.5
    # bin 3: n 3, conf 2.65/3 = 0.88333, acc 2/3 -> gap 0.65/3 = 0.21667
    # ECE = (0.1 + 2·0.175 + 0.5 + 3·0.65/3) / 7 = 1.6 / 7;  MCE = 0.5
    q = np.array([0.10, 0.25, 0.40, 0.50, 0.75, 0.90, 1.00])
    y = np.array([0, 0, 1, 1, 1, 1, 0])
    r = evaluate_arrays(q, y, bins=4)
    assert r.metrics["ece"] == pytest.approx(1.6 / 7, rel=1e-12)
    assert r.metrics["mce"] == pytest.approx(0.5, rel=1e-12)
    bins = r.calibration["bins"]
    assert [b["count"] for b in bins] == [1, 2, 1, 3]
    assert [b["lower"] for b in bins] == [0.0, 0.25, 0.5, 0.75]
    assert [b["upper"] for b in bins] == [0.25, 0.5, 0.75, 1.0]
    assert [b["confidence"] for b in bins] == pytest.approx([0.1, 0.325, 0.5, 2.65 / 3], rel=1e-12)
    assert [b["accuracy"] for b in bins] == pytest.approx([0.0, 0.5, 1.0, 2 / 3], rel=1e-12)


def test_multiclass_top_label_ece_mce_hand_worked() -> None:
    # 4 bins; the top-label confidence max q against "argmax q == t".
    #   q                    t   conf  correct  bin
    #   [0.50, 0.30, 0.20]   1   0.50  0        2   (edge)
    #   [0.75, 0.20, 0.05]   0   0.75  1        3   (edge)
    #   [0.00, 1.00, 0.00]   1   1.00  1        3   (1.0: last bin)
    #   [0.40, 0.35, 0.25]   0   0.40  1        1
    #   [0.10, 0.60, 0.30]   2   0.60  0        2
    # bin 1: n 1, conf 0.4,   acc 1 -> 0.6
    # bin 2: n 2, conf 0.55,  acc 0 -> 0.55
    # bin 3: n 2, conf 0.875, acc 1 -> 0.125
    # ECE = (0.6 + 2·0.55 + 2·0.125) / 5 = 0.39;  MCE = 0.6
    q = np.array(
        [
            [0.50, 0.30, 0.20],
            [0.75, 0.20, 0.05],
            [0.00, 1.00, 0.00],
            [0.40, 0.35, 0.25],
            [0.10, 0.60, 0.30],
        ]
    )
    t = np.array([1, 0, 1, 0, 2])
    r = evaluate_arrays(q, t, bins=4)
    assert r.metrics["ece"] == pytest.approx(0.39, rel=1e-12)
    assert r.metrics["mce"] == pytest.approx(0.6, rel=1e-12)
    assert [b["count"] for b in r.calibration["bins"]] == [0, 1, 2, 2]
    # Sample weights: bin 2's rows weigh 3 and 1 (conf (1.5 + 0.6)/4 = 0.525, acc 0), N = 7.
    s = np.array([3.0, 1.0, 1.0, 1.0, 1.0])
    w = evaluate_arrays(q, t, bins=4, sample_weight=s)
    assert w.metrics["ece"] == pytest.approx((0.6 + 4 * 0.525 + 2 * 0.125) / 7, rel=1e-12)
    assert w.metrics["mce"] == pytest.approx(0.6, rel=1e-12)


@pytest.mark.parametrize("n_bins", [3, 4, 5, 8, 10, 15, 20])
def test_values_on_decimal_edges_go_to_the_upper_bin(n_bins: int) -> None:
    # k / n_bins as Python computes it (the double nearest the edge) is "on the edge" k/B, so it
    # belongs to bin k; 1.0 to the last bin. Every bin then holds exactly one value, the last two.
    q = np.array([k / n_bins for k in range(n_bins + 1)])
    y = np.zeros(n_bins + 1, dtype=np.int64)
    y[-1] = 1
    r = evaluate_arrays(q, y, bins=n_bins)
    counts = [b["count"] for b in r.calibration["bins"]]
    assert counts == [1] * (n_bins - 1) + [2]


# -- logits: stable log-softmax / log-sigmoid ----------------------------------------------------


def test_extreme_multiclass_logits_are_finite_and_exact() -> None:
    z = np.array([[1000.0, 0.0, -1000.0]] * 3)
    t = np.array([0, 1, 2])
    m = evaluate_arrays(z, t, logits=True).metrics
    # CE per row: 0, 1000, 2000 (log-softmax = z - 1000 up to e^-1000).
    assert m["cross_entropy"] == pytest.approx(1000.0, rel=1e-15)
    assert m["entropy"] == pytest.approx(0.0, abs=1e-300)
    assert m["brier"] == pytest.approx(4 / 3, rel=1e-15)  # rows: 0, 1 + 1, 1 + 1
    assert m["accuracy"] == pytest.approx(1 / 3, rel=1e-15)
    # exp(1000 nats) overflows: perplexity is +inf (null in JSON), everything else finite.
    assert m["perplexity"] == math.inf
    assert all(math.isfinite(v) for k, v in m.items() if k != "perplexity")
    # The general path (class weights, smoothing) too: smoothing 0.1 adds (0.1/3)·(0+1000+2000)
    # = 100 to each row and scales the true term by 0.9: rows 100, 1000, 1900.
    g = evaluate_arrays(z, t, logits=True, smoothing=0.1, class_weights=(1.0, 1.0, 1.0)).metrics
    assert g["loss"] == pytest.approx(1000.0, rel=1e-13)
    f = evaluate_arrays(z, t, logits=True, loss="focal", gamma=2.0).metrics
    assert f["loss"] == pytest.approx(1000.0, rel=1e-13)  # (1 - 0)² · (0, 1000, 2000)
    # A tie at the top: log 2.
    tie = evaluate_arrays([[1000.0, 1000.0, -1000.0]], [0], logits=True).metrics
    assert tie["cross_entropy"] == pytest.approx(LN2, rel=1e-15)
    assert tie["entropy"] == pytest.approx(LN2, rel=1e-15)


def test_extreme_binary_and_multilabel_logits_are_finite_and_exact() -> None:
    z = np.array([1000.0, -1000.0, 1000.0, 40.0, -40.0])
    y = np.array([0, 1, 1, 1, 1])
    m = evaluate_arrays(z, y, logits=True).metrics
    # log σ(40) = -log1p(e^-40) ≈ -e^-40, which log(σ(40)) would round to 0.
    expected = (
        1000.0 + 1000.0 + 0.0 + math.log1p(math.exp(-40.0)) + 40.0 + math.log1p(math.exp(-40.0))
    ) / 5
    assert m["cross_entropy"] == pytest.approx(expected, rel=1e-15)
    assert all(math.isfinite(v) for v in m.values())
    focal = evaluate_arrays(z, y, logits=True, loss="focal", gamma=2.0, alpha=0.25).metrics
    # (1 - q_t)^γ is 1 for the two confidently wrong rows (α_t = 0.75, 0.25) and for z = -40;
    # row z = 40, y = 1: 0.25 · σ(-40)² · log1p(e^-40), a non-zero ≈ 1e-53.
    expected_focal = (
        0.75 * 1000 + 0.25 * 1000 + 0.25 * math.exp(-80.0) * math.exp(-40.0) + 0.25 * 40.0
    ) / 5
    assert focal["loss"] == pytest.approx(expected_focal, rel=1e-12)
    ml = evaluate_arrays(
        [[1000.0, -1000.0], [-1000.0, 1000.0]],
        targets=[[1, 0], [1, 0]],
        task="multilabel",
        logits=True,
    ).metrics
    assert ml["cross_entropy"] == pytest.approx(1000.0, rel=1e-15)  # rows 0 and 2000
    assert ml["loss_per_label"] == pytest.approx(500.0, rel=1e-15)
