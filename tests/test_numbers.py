"""Every number against hand-worked values, scikit-learn and SciPy (float64, rel 1e-9 or better).

Hand-worked values in bits come from the course notes in shared/seeds (cat/dog/rabbit example).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import expit, softmax
from scipy.stats import entropy as scipy_entropy
from sklearn.metrics import accuracy_score, brier_score_loss, log_loss
from sklearn.utils.class_weight import compute_class_weight

from ce_cli import evaluate_arrays
from ce_cli.core.calibration import expected_calibration_error, max_calibration_error

REL = 1e-9


def rng_probs(n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, k)) * 2.0
    return softmax(z, axis=1), rng.integers(0, k, n)


# -- hand-worked (bits) -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("p_true", "bits"), [(0.7, 0.514), (0.9, 0.152), (0.5, 1.0), (0.1, 3.322), (1 / 3, 1.585)]
)
def test_categorical_cross_entropy_in_bits(p_true: float, bits: float) -> None:
    rest = (1 - p_true) / 2
    r = evaluate_arrays([[rest, p_true, rest]], [1], base="bits")
    assert r.metrics["cross_entropy"] == pytest.approx(-math.log2(p_true), rel=1e-12)
    assert r.metrics["cross_entropy"] == pytest.approx(bits, abs=1e-3)  # the notes truncate


def test_seed_multiclass_example_dog() -> None:
    r = evaluate_arrays([[0.2, 0.7, 0.1]], [1], base="bits")
    assert r.metrics["cross_entropy"] == pytest.approx(0.5145731728297583, rel=1e-12)


def test_seed_multilabel_example_cat_and_rabbit() -> None:
    r = evaluate_arrays([[0.8, 0.4, 0.6]], targets=[[1, 0, 1]], task="multilabel", base="bits")
    expected = -(math.log2(0.8) + math.log2(0.6) + math.log2(0.6))
    assert r.metrics["loss"] == pytest.approx(expected, rel=1e-12)
    assert r.metrics["loss"] == pytest.approx(1.796, abs=5e-4)
    per_label = {row["class"]: row["loss"] for row in r.per_class}
    assert [round(v, 3) for v in per_label.values()] == [0.322, 0.737, 0.737]
    assert r.metrics["loss_per_label"] == pytest.approx(expected / 3, rel=1e-12)


def test_kl_and_entropy_hand_worked() -> None:
    # p = (1/2, 1/2), q = (1/4, 3/4): H(p) = 1 bit, CE = -(log2 1/4 + log2 3/4)/2
    r = evaluate_arrays([[0.25, 0.75]], targets=[[0.5, 0.5]], base="bits")
    ce = -(math.log2(0.25) + math.log2(0.75)) / 2
    assert r.metrics["label_entropy"] == pytest.approx(1.0, rel=1e-12)
    assert r.metrics["cross_entropy"] == pytest.approx(ce, rel=1e-12)
    assert r.metrics["kl_divergence"] == pytest.approx(ce - 1.0, rel=1e-12)
    assert r.metrics["entropy"] == pytest.approx(-(0.25 * math.log2(0.25) + 0.75 * math.log2(0.75)))


def test_calibration_hand_worked_edges() -> None:
    # 5 bins. 0.2 is an edge: goes to bin 1 [0.2, 0.4). 1.0 goes to the last bin [0.8, 1.0].
    conf = np.array([0.2, 0.3, 0.9, 1.0, 0.5])
    hit = np.array([1.0, 0.0, 1.0, 0.0, 1.0])
    # bin1: conf (0.2+0.3)/2 = 0.25, acc 0.5 -> |gap| 0.25, n=2
    # bin2: conf 0.5, acc 1 -> 0.5, n=1;  bin4: conf 0.95, acc 0.5 -> 0.45, n=2
    ece = (2 * 0.25 + 1 * 0.5 + 2 * 0.45) / 5
    assert expected_calibration_error(conf, hit, n_bins=5) == pytest.approx(ece, rel=1e-12)
    assert max_calibration_error(conf, hit, n_bins=5) == pytest.approx(0.5, rel=1e-12)


# -- scikit-learn -----------------------------------------------------------------------------


@pytest.mark.parametrize("weighted", [False, True])
def test_multiclass_log_loss_brier_accuracy_match_sklearn(weighted: bool) -> None:
    probs, labels = rng_probs(500, 4, seed=1)
    w = np.random.default_rng(9).uniform(0.1, 3.0, 500) if weighted else None
    r = evaluate_arrays(probs, labels, sample_weight=w)
    assert r.metrics["cross_entropy"] == pytest.approx(
        log_loss(labels, y_proba=probs, labels=range(4), sample_weight=w), rel=REL
    )
    assert r.metrics["accuracy"] == pytest.approx(
        accuracy_score(labels, probs.argmax(axis=1), sample_weight=w), rel=REL
    )
    # scikit-learn >= 1.7 sums over classes for >= 3 columns, as the definition does.
    assert r.metrics["brier"] == pytest.approx(
        brier_score_loss(labels, probs, labels=range(4), sample_weight=w), rel=REL
    )


def test_two_column_brier_is_not_halved() -> None:
    # scikit-learn halves the multi-class Brier score below 3 columns; the definition does not.
    probs, labels = rng_probs(300, 2, seed=2)
    r = evaluate_arrays(probs, labels, task="multiclass")
    halved = brier_score_loss(labels, probs, labels=[0, 1])
    assert r.metrics["brier"] == pytest.approx(2 * halved, rel=REL)


def test_two_columns_and_two_classes_are_binary_on_the_second_column() -> None:
    # scikit-learn's predict_proba layout: the numbers are those of the second column alone.
    probs, labels = rng_probs(300, 2, seed=2)
    r = evaluate_arrays(probs, labels)
    one = evaluate_arrays(probs[:, 1], labels)
    assert r.detection.task == "binary"
    assert r.metrics["brier"] == pytest.approx(brier_score_loss(labels, probs[:, 1]), rel=REL)
    assert r.metrics["cross_entropy"] == pytest.approx(log_loss(labels, probs), rel=REL)
    for key in ("loss", "cross_entropy", "entropy", "brier", "accuracy", "ece", "mce"):
        assert r.metrics[key] == pytest.approx(one.metrics[key], rel=1e-12, abs=1e-15), key


@pytest.mark.parametrize("weighted", [False, True])
def test_binary_matches_sklearn(weighted: bool) -> None:
    rng = np.random.default_rng(3)
    q = rng.uniform(0, 1, 400)
    q[:3] = [0.0, 1.0, 0.5]  # exact 0 and 1 are clipped as scikit-learn clips them
    y = (rng.uniform(size=400) < q).astype(int)
    y[:2] = [1, 0]  # the clipped rows are the confidently wrong ones
    w = rng.uniform(0.5, 2.0, 400) if weighted else None
    r = evaluate_arrays(q, y, sample_weight=w)
    assert r.detection.task == "binary"
    assert r.metrics["cross_entropy"] == pytest.approx(
        log_loss(y, y_proba=q, sample_weight=w), rel=REL
    )
    assert r.metrics["brier"] == pytest.approx(brier_score_loss(y, q, sample_weight=w), rel=REL)
    assert r.metrics["accuracy"] == pytest.approx(
        accuracy_score(y, q >= 0.5, sample_weight=w), rel=REL
    )
    assert r.counts["clipped_rows"] == 2


def test_float32_probabilities_clip_with_float32_eps() -> None:
    probs, labels = rng_probs(200, 3, seed=4)
    probs = probs.astype(np.float32)
    probs[0] = [0.0, 0.0, 1.0]
    labels[0] = 0
    r = evaluate_arrays(probs, labels)
    expected = log_loss(labels, y_proba=probs.astype(np.float32), labels=range(3))
    assert r.detection.eps == float(np.finfo(np.float32).eps)
    assert r.metrics["cross_entropy"] == pytest.approx(expected, rel=1e-6)  # sklearn sums in f32
    clipped = np.clip(
        probs.astype(np.float64), np.finfo(np.float32).eps, 1 - np.finfo(np.float32).eps
    )
    exact = -np.mean(np.log(clipped[np.arange(200), labels]))
    assert r.metrics["cross_entropy"] == pytest.approx(exact, rel=1e-12)


def test_calibration_bins_match_sklearn_calibration_curve() -> None:
    from sklearn.calibration import calibration_curve

    rng = np.random.default_rng(5)
    q = rng.uniform(0.001, 0.999, 2000)
    y = (rng.uniform(size=2000) < q**1.3).astype(int)
    r = evaluate_arrays(q, y, bins=10)
    prob_true, prob_pred = calibration_curve(y, q, n_bins=10, strategy="uniform")
    bins = [b for b in r.calibration["bins"] if b["count"]]
    np.testing.assert_allclose([b["accuracy"] for b in bins], prob_true, rtol=1e-12)
    np.testing.assert_allclose([b["confidence"] for b in bins], prob_pred, rtol=1e-12)


def test_balanced_class_weights_match_sklearn() -> None:
    probs, labels = rng_probs(600, 3, seed=6)
    labels[:300] = 0  # imbalanced
    weights = compute_class_weight("balanced", classes=np.arange(3), y=labels)
    balanced = evaluate_arrays(probs, labels, class_weights="balanced")
    explicit = evaluate_arrays(probs, labels, class_weights=tuple(weights))
    assert balanced.class_weights == pytest.approx(list(weights), rel=1e-12)
    assert balanced.metrics["loss"] == pytest.approx(explicit.metrics["loss"], rel=1e-12)
    nll = -np.log(probs[np.arange(600), labels])
    expected = np.sum(weights[labels] * nll) / np.sum(weights[labels])
    assert balanced.metrics["loss"] == pytest.approx(expected, rel=REL)


def test_sample_and_class_weights_together() -> None:
    probs, labels = rng_probs(300, 3, seed=7)
    s = np.random.default_rng(1).uniform(0.2, 2, 300)
    w = np.array([1.0, 3.0, 0.5])
    r = evaluate_arrays(probs, labels, sample_weight=s, class_weights=(1, 3, 0.5))
    nll = -np.log(probs[np.arange(300), labels])
    expected = np.sum(s * w[labels] * nll) / np.sum(s * w[labels])
    assert r.metrics["loss"] == pytest.approx(expected, rel=REL)
    assert r.metrics["cross_entropy"] == pytest.approx(np.sum(s * nll) / np.sum(s), rel=REL)


# -- SciPy ------------------------------------------------------------------------------------


def test_entropy_matches_scipy_in_every_base() -> None:
    probs, labels = rng_probs(300, 5, seed=8)
    for base, scipy_base in (("nats", None), ("bits", 2), ("bans", 10)):
        r = evaluate_arrays(probs, labels, base=base)
        expected = scipy_entropy(probs, base=scipy_base, axis=1).mean()
        assert r.metrics["entropy"] == pytest.approx(expected, rel=REL)


def test_soft_label_kl_and_label_entropy_match_scipy() -> None:
    probs, _ = rng_probs(200, 4, seed=10)
    targets = np.random.default_rng(11).dirichlet([0.5] * 4, 200)
    targets[0] = [0.0, 0.5, 0.5, 0.0]
    r = evaluate_arrays(probs, targets=targets)
    assert r.detection.soft_targets
    assert r.metrics["kl_divergence"] == pytest.approx(
        scipy_entropy(targets, probs, axis=1).mean(), rel=REL
    )
    assert r.metrics["label_entropy"] == pytest.approx(
        scipy_entropy(targets, axis=1).mean(), rel=REL
    )
    assert r.metrics["cross_entropy"] == pytest.approx(
        r.metrics["label_entropy"] + r.metrics["kl_divergence"], rel=1e-12
    )


# -- definitions (independent NumPy) ----------------------------------------------------------


def focal_reference(q: np.ndarray, p: np.ndarray, gamma: float, w: np.ndarray | None) -> np.ndarray:
    w = np.ones(q.shape[1]) if w is None else w
    return -(w * p * (1 - q) ** gamma * np.log(q)).sum(axis=1)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("class_weights", [None, (1.0, 2.0, 0.5, 3.0)])
def test_multiclass_focal_matches_the_definition(
    smoothing: float, class_weights: tuple[float, ...] | None
) -> None:
    probs, labels = rng_probs(400, 4, seed=12)
    r = evaluate_arrays(
        probs, labels, loss="focal", gamma=2.0, smoothing=smoothing, class_weights=class_weights
    )
    p = np.eye(4)[labels] * (1 - smoothing) + smoothing / 4
    w = None if class_weights is None else np.array(class_weights)
    rows = focal_reference(probs, p, 2.0, w)
    denominator = 400 if w is None else w[labels].sum()
    assert r.metrics["loss"] == pytest.approx(rows.sum() / denominator, rel=REL)


def test_soft_target_focal_with_weights_divides_by_rows() -> None:
    probs, _ = rng_probs(300, 3, seed=13)
    targets = np.random.default_rng(3).dirichlet([1, 1, 1], 300)
    w = np.array([0.5, 1.0, 2.0])
    r = evaluate_arrays(probs, targets=targets, loss="focal", gamma=1.5, class_weights=tuple(w))
    assert r.metrics["loss"] == pytest.approx(
        focal_reference(probs, targets, 1.5, w).mean(), rel=REL
    )


def test_binary_focal_with_alpha_matches_the_definition() -> None:
    rng = np.random.default_rng(14)
    z = rng.normal(size=500) * 3
    y = rng.integers(0, 2, 500)
    q = expit(z)
    q_t = np.where(y == 1, q, 1 - q)
    alpha_t = np.where(y == 1, 0.25, 0.75)
    expected = np.mean(-alpha_t * (1 - q_t) ** 2 * np.log(q_t))
    r = evaluate_arrays(z, y, logits=True, loss="focal", gamma=2.0, alpha=0.25)
    assert r.metrics["loss"] == pytest.approx(expected, rel=REL)


def test_focal_gamma_zero_is_cross_entropy() -> None:
    probs, labels = rng_probs(200, 3, seed=15)
    r = evaluate_arrays(probs, labels, loss="focal", gamma=0.0)
    assert r.metrics["loss"] == pytest.approx(r.metrics["cross_entropy"], rel=1e-13)


def test_binary_smoothing_is_two_class_smoothing() -> None:
    rng = np.random.default_rng(16)
    z = rng.normal(size=300) * 2
    y = rng.integers(0, 2, 300)
    binary = evaluate_arrays(z, y, logits=True, smoothing=0.2, class_weights=(1.5, 0.5))
    two = evaluate_arrays(
        np.stack([np.zeros(300), z], axis=1),
        y,
        logits=True,
        smoothing=0.2,
        class_weights=(1.5, 0.5),
    )
    assert binary.metrics["loss"] == pytest.approx(two.metrics["loss"], rel=REL)


def test_perplexity_and_bases() -> None:
    probs, labels = rng_probs(200, 3, seed=17)
    nats = evaluate_arrays(probs, labels).metrics
    bits = evaluate_arrays(probs, labels, base="2").metrics
    bans = evaluate_arrays(probs, labels, base="10").metrics
    assert bits["cross_entropy"] == pytest.approx(nats["cross_entropy"] / math.log(2), rel=1e-13)
    assert bans["entropy"] == pytest.approx(nats["entropy"] / math.log(10), rel=1e-13)
    assert nats["perplexity"] == pytest.approx(math.exp(nats["cross_entropy"]), rel=1e-13)
    assert bits["perplexity"] == nats["perplexity"]


def test_extreme_logits_stay_finite_and_exact() -> None:
    z = np.array([[1000.0, 0.0, -1000.0], [-1000.0, 0.0, 1000.0]])
    r = evaluate_arrays(z, [0, 0], logits=True)
    assert r.metrics["cross_entropy"] == pytest.approx(1000.0, rel=1e-12)  # (0 + 2000) / 2
    # exp(1000 nats) overflows: perplexity is +inf (null in JSON), everything else finite.
    assert r.metrics["perplexity"] == math.inf
    assert all(math.isfinite(v) for k, v in r.metrics.items() if k != "perplexity")


def test_multilabel_accuracy_is_per_label_and_subset_is_exact_match() -> None:
    q = np.array([[0.9, 0.2, 0.7], [0.4, 0.6, 0.1]])
    y = np.array([[1, 0, 1], [1, 1, 0]])
    r = evaluate_arrays(q, targets=y, task="multilabel")
    assert r.metrics["accuracy"] == pytest.approx(5 / 6)
    assert r.metrics["subset_accuracy"] == pytest.approx(0.5)
