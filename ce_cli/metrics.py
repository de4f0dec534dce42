"""One function per number, for arrays in memory: the functional face of :func:`evaluate_arrays`.

Each function runs the same checks, kernel and accumulator as the command (there is one
implementation per formula) and returns one float. ``predictions`` are rows × classes (1-D, or
two columns, for binary), probabilities or logits (``logits=None`` decides as the command does:
named or out-of-range values are logits). ``labels`` are class indices or class names;
``targets`` soft or multi-hot rows instead. ``base`` is ``"nats"`` (default), ``"bits"`` or
``"bans"``; ``sample_weight`` weighs rows as scikit-learn's ``sample_weight`` does. Other
keywords are those of :class:`~ce_cli.settings.Settings` (``task``, ``smoothing``,
``class_weights``, ``classes``, ``bins``, …). Definitions: ``docs/definitions.md``.

>>> round(cross_entropy([[0.2, 0.7, 0.1], [0.6, 0.3, 0.1]], [1, 0]), 6)  # (-ln 0.7 - ln 0.6) / 2
0.43375
>>> round(cross_entropy([0.9, 0.2], [1, 0], base="bits"), 6)  # binary: P(class 1)
0.236966
"""

from __future__ import annotations

from typing import Any

from numpy.typing import ArrayLike

from ce_cli.arrays import evaluate_arrays

__all__ = [
    "accuracy",
    "brier_score",
    "cross_entropy",
    "entropy",
    "expected_calibration_error",
    "focal_loss",
    "kl_divergence",
    "max_calibration_error",
    "perplexity",
]


def _metric(
    name: str,
    predictions: ArrayLike,
    labels: ArrayLike | None,
    targets: ArrayLike | None,
    sample_weight: ArrayLike | None,
    options: dict[str, Any],
) -> float:
    report = evaluate_arrays(
        predictions, labels, targets=targets, sample_weight=sample_weight, **options
    )
    return float(report.metrics[name])


def cross_entropy(
    predictions: ArrayLike,
    labels: ArrayLike | None = None,
    *,
    targets: ArrayLike | None = None,
    sample_weight: ArrayLike | None = None,
    **options: Any,
) -> float:
    """Mean cross-entropy ``-Σ_j p_j log q_j`` (hard labels: ``-log q_t``); with
    ``smoothing`` or ``class_weights`` the modified loss (PyTorch's ``cross_entropy``).

    Probabilities are clipped to ``[eps, 1-eps]`` (``eps`` of their float type), as
    scikit-learn's ``log_loss``; logits go through a stable log-softmax.

    >>> round(cross_entropy([[2.0, 0.0], [0.0, 1.0]], [0, 1], logits=True), 6)
    0.220095
    """
    if options.get("smoothing") or options.get("class_weights") is not None:
        return _metric("loss", predictions, labels, targets, sample_weight, options)
    return _metric("cross_entropy", predictions, labels, targets, sample_weight, options)


def focal_loss(
    predictions: ArrayLike,
    labels: ArrayLike | None = None,
    *,
    gamma: float = 2.0,
    alpha: float | None = None,
    targets: ArrayLike | None = None,
    sample_weight: ArrayLike | None = None,
    **options: Any,
) -> float:
    """Mean focal loss ``-(1-q_t)^γ log q_t`` (binary and multi-label: ``-α_t (1-q_t)^γ log
    q_t``, torchvision's ``sigmoid_focal_loss``). ``gamma=0`` and no ``alpha`` give the
    cross-entropy.

    >>> round(focal_loss([0.9, 0.2], [1, 0], gamma=2), 6)  # (0.01 ln 0.9 + 0.04 ln 0.8) / -2
    0.00499
    """
    options = {**options, "loss": "focal", "gamma": gamma, "alpha": alpha}
    return _metric("loss", predictions, labels, targets, sample_weight, options)


def entropy(
    predictions: ArrayLike,
    labels: ArrayLike | None = None,
    *,
    targets: ArrayLike | None = None,
    sample_weight: ArrayLike | None = None,
    **options: Any,
) -> float:
    """Mean entropy of the predicted distribution, ``-Σ_j q_j log q_j`` (0 log 0 = 0).

    >>> round(entropy([[0.5, 0.5], [1.0, 0.0]], [0, 0], base="bits", task="multiclass"), 6)
    0.5
    """
    return _metric("entropy", predictions, labels, targets, sample_weight, options)


def kl_divergence(
    predictions: ArrayLike,
    labels: ArrayLike | None = None,
    *,
    targets: ArrayLike | None = None,
    sample_weight: ArrayLike | None = None,
    **options: Any,
) -> float:
    """Mean ``KL(p ‖ q) = Σ_j p_j log(p_j / q_j)``, so that cross-entropy = label entropy + KL.

    >>> round(kl_divergence([[0.5, 0.5]], targets=[[0.5, 0.5]]), 12)
    0.0
    """
    return _metric("kl_divergence", predictions, labels, targets, sample_weight, options)


def perplexity(
    predictions: ArrayLike,
    labels: ArrayLike | None = None,
    *,
    targets: ArrayLike | None = None,
    sample_weight: ArrayLike | None = None,
    **options: Any,
) -> float:
    """``exp`` of the mean cross-entropy in nats.

    >>> round(perplexity([[0.25, 0.25, 0.25, 0.25]], [2]), 6)
    4.0
    """
    return _metric("perplexity", predictions, labels, targets, sample_weight, options)


def accuracy(
    predictions: ArrayLike,
    labels: ArrayLike | None = None,
    *,
    targets: ArrayLike | None = None,
    sample_weight: ArrayLike | None = None,
    **options: Any,
) -> float:
    """The share of rows whose argmax is the true class (binary: ``q ≥ 0.5``).

    >>> accuracy([0.9, 0.4, 0.6], [1, 0, 0])
    0.6666666666666666
    """
    return _metric("accuracy", predictions, labels, targets, sample_weight, options)


def brier_score(
    predictions: ArrayLike,
    labels: ArrayLike | None = None,
    *,
    targets: ArrayLike | None = None,
    sample_weight: ArrayLike | None = None,
    **options: Any,
) -> float:
    """Mean ``Σ_j (q_j - p_j)²`` (binary: ``(q - y)²``, scikit-learn's ``brier_score_loss``).

    >>> round(brier_score([0.9, 0.2], [1, 0]), 6)
    0.025
    """
    return _metric("brier", predictions, labels, targets, sample_weight, options)


def expected_calibration_error(
    predictions: ArrayLike,
    labels: ArrayLike | None = None,
    *,
    bins: int = 15,
    targets: ArrayLike | None = None,
    sample_weight: ArrayLike | None = None,
    **options: Any,
) -> float:
    """ECE on ``bins`` equal-width bins: ``Σ_b |S_b - Y_b| / W`` over top-label confidences
    (binary: ``q`` against ``y``), torchmetrics' ``CalibrationError`` (l1).

    >>> round(expected_calibration_error([0.9, 0.9, 0.2], [1, 0, 0], bins=10), 6)  # (0.8+0.2)/3
    0.333333
    """
    options = {**options, "bins": bins}
    return _metric("ece", predictions, labels, targets, sample_weight, options)


def max_calibration_error(
    predictions: ArrayLike,
    labels: ArrayLike | None = None,
    *,
    bins: int = 15,
    targets: ArrayLike | None = None,
    sample_weight: ArrayLike | None = None,
    **options: Any,
) -> float:
    """MCE: the largest ``|S_b - Y_b| / W_b`` over non-empty equal-width bins.

    >>> round(max_calibration_error([0.9, 0.9, 0.2], [1, 0, 0], bins=10), 6)
    0.4
    """
    options = {**options, "bins": bins}
    return _metric("mce", predictions, labels, targets, sample_weight, options)
