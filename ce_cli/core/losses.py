r"""Per-sample losses: cross-entropy, focal loss, label smoothing and class weights.

Every function takes log-probabilities (from :mod:`ce_cli.core.logprob`) and returns one float64
value per row, in nats. Means over rows, and their denominators, belong to the accumulator.

Symbols: ``q`` the predicted distribution, ``p`` the target distribution (one-hot of the label
``t``, soft targets, or multi-hot), ``p̃ = (1 - ε) p + ε / C`` the smoothed target, ``w`` the class
weights, ``γ`` the focal focusing parameter, ``α`` the focal balance weight of positives.

.. math::

    L_i = -\sum_j w_j \tilde p_{ij} (1 - q_{ij})^\gamma \log q_{ij}

With ``γ = 0`` this is PyTorch's ``cross_entropy(weight=w, label_smoothing=ε)`` row loss; the
mean divides by ``Σ w_{t_i}`` for hard labels (:func:`hard_label_weights`), else by the row count.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

Float = NDArray[np.float64]
Int = NDArray[np.int64]


def focal_factor(q: Float, gamma: float) -> Float:
    """``(1 - q)^γ``; exactly 1 when ``γ = 0`` (so focal with γ = 0 is plain cross-entropy)."""
    if gamma == 0.0:
        return np.ones_like(q)
    return np.power(np.clip(1.0 - q, 0.0, 1.0), gamma)


def _row_gather(matrix: Float, index: Int) -> Float:
    return np.take_along_axis(matrix, index[:, None], axis=1)[:, 0]


def categorical_loss(
    log_q: Float,
    q: Float,
    labels: Int | None = None,
    targets: Float | None = None,
    *,
    smoothing: float = 0.0,
    gamma: float = 0.0,
    class_weights: Float | None = None,
) -> Float:
    r"""Row loss ``-Σ_j w_j p̃_j (1 - q_j)^γ log q_j`` for hard ``labels`` or soft ``targets``.

    Hard labels without smoothing take the fast path ``-w_t (1 - q_t)^γ log q_t``.

    >>> lq = np.log(np.array([[0.7, 0.2, 0.1]]))
    >>> float(categorical_loss(lq, np.exp(lq), labels=np.array([0]))[0] / np.log(2))  # bits
    0.5145731728297583
    """
    n_classes = log_q.shape[1]
    if labels is not None and smoothing == 0.0:
        nll = -_row_gather(log_q, labels)
        if gamma != 0.0:
            nll = nll * focal_factor(_row_gather(q, labels), gamma)
        if class_weights is not None:
            nll = nll * class_weights[labels]
        return nll
    terms = -log_q if gamma == 0.0 else -log_q * focal_factor(q, gamma)
    if class_weights is not None:
        terms = terms * class_weights
    if labels is not None:
        # p̃ = (1 - ε) onehot + ε / C, without building the one-hot matrix.
        gathered = _row_gather(terms, labels)
        return np.asarray(
            (1.0 - smoothing) * gathered + (smoothing / n_classes) * terms.sum(axis=1)
        )
    assert targets is not None
    smoothed = targets if smoothing == 0.0 else (1.0 - smoothing) * targets + smoothing / n_classes
    return np.asarray(np.einsum("ij,ij->i", smoothed, terms), dtype=np.float64)


def hard_label_weights(labels: Int, class_weights: Float | None) -> Float | None:
    """Each row's share of the mean's denominator, ``w_{t_i}`` (``None`` means 1 for every row)."""
    if class_weights is None:
        return None
    return class_weights[labels]


def smooth_binary_targets(y: Float, smoothing: float) -> Float:
    """Binary label smoothing ``y (1 - ε) + ε / 2`` (PyTorch and Keras)."""
    if smoothing == 0.0:
        return y
    return y * (1.0 - smoothing) + smoothing / 2.0


def bernoulli_loss(
    log_q: Float,
    log_not_q: Float,
    y: Float,
    *,
    smoothing: float = 0.0,
    gamma: float = 0.0,
    alpha: float | None = None,
    weight_pos: Float | float = 1.0,
    weight_neg: Float | float = 1.0,
) -> Float:
    r"""Elementwise binary loss ``-[α w₁ ỹ (1-q)^γ log q + (1-α) w₀ (1-ỹ) q^γ log(1-q)]``.

    ``ỹ`` is the (smoothed) target. With hard targets this is torchvision's ``sigmoid_focal_loss``
    (``α`` omitted means no balancing); with ``γ = 0`` and no ``α`` it is binary cross-entropy.
    Terms whose target weight is 0 contribute exactly 0.

    >>> lq, lnq = np.log(np.array([0.8, 0.4, 0.6])), np.log(np.array([0.2, 0.6, 0.4]))
    >>> bce = bernoulli_loss(lq, lnq, np.array([1.0, 0.0, 1.0])) / np.log(2)
    >>> bce.round(3).tolist(), round(float(bce.sum()), 3)
    ([0.322, 0.737, 0.737], 1.796)
    """
    y_s = smooth_binary_targets(y, smoothing)
    pos = y_s * -log_q
    neg = (1.0 - y_s) * -log_not_q
    if gamma != 0.0:
        # (1 - q)^γ and q^γ from the log-probabilities: exact for confident logits.
        pos = pos * np.exp(gamma * log_not_q)
        neg = neg * np.exp(gamma * log_q)
    if alpha is not None:
        pos = pos * alpha
        neg = neg * (1.0 - alpha)
    return np.asarray(pos * weight_pos + neg * weight_neg, dtype=np.float64)
