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


def complement_power(not_q: Float, gamma: float) -> Float:
    """The focal factor ``(1 - q)^γ`` from the complement ``not_q = 1 - q`` (accurate where ``q``
    is close to 1, see :class:`~ce_cli.core.logprob.CategoricalLogProbs`); exactly 1 when
    ``γ = 0``. (Named for what it takes: it is never given ``q`` itself.)

    >>> complement_power(np.array([0.25, 4.248354255291589e-18]), 2.0).tolist()
    [0.0625, 1.804851387845415e-35]
    """
    if gamma == 0.0:
        return np.ones_like(not_q)
    return np.asarray(np.power(np.clip(not_q, 0.0, 1.0), gamma), dtype=np.float64)


def _row_gather(matrix: Float, index: Int) -> Float:
    return np.take_along_axis(matrix, index[:, None], axis=1)[:, 0]


def hard_label_loss(
    nll: Float, not_true: Float | None, gamma: float = 0.0, weight: Float | None = None
) -> Float:
    """``w_t (1 - q_t)^γ (-log q_t)`` from ``nll = -log q_t`` and ``not_true = 1 - q_t`` (read
    only when ``γ ≠ 0``).

    >>> hard_label_loss(np.array([np.log(2.0)]), np.array([0.5]), 2.0, np.array([3.0])).tolist()
    [0.5198603854199589]
    """
    if gamma != 0.0:
        assert not_true is not None, "the focal factor needs 1 - q_t"
        nll = nll * complement_power(not_true, gamma)
    return nll if weight is None else nll * weight


def categorical_loss(
    log_q: Float,
    *,
    not_q: Float | None = None,
    labels: Int | None = None,
    targets: Float | None = None,
    smoothing: float = 0.0,
    gamma: float = 0.0,
    class_weights: Float | None = None,
) -> Float:
    r"""Row loss ``-Σ_j w_j p̃_j (1 - q_j)^γ log q_j`` for hard ``labels`` or soft ``targets``.

    ``not_q`` is ``1 - q``, computed without cancellation (read only, and needed only, when
    ``γ ≠ 0``). Hard labels without smoothing take :func:`hard_label_loss`. Every term is ≥ 0.

    >>> lq = np.log(np.array([[0.7, 0.2, 0.1]]))
    >>> float(categorical_loss(lq, labels=np.array([0]))[0] / np.log(2))  # bits
    0.5145731728297583
    """
    n_classes = log_q.shape[1]
    if labels is not None and smoothing == 0.0:
        nll = -_row_gather(log_q, labels)
        return hard_label_loss(
            nll,
            nll if not_q is None else _row_gather(not_q, labels),
            gamma,
            None if class_weights is None else class_weights[labels],
        )
    if gamma == 0.0:
        terms = -log_q
    else:
        assert not_q is not None, "the focal factor needs 1 - q"
        terms = -log_q * complement_power(not_q, gamma)
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
    q: Float | None = None,
    not_q: Float | None = None,
) -> Float:
    r"""Elementwise binary loss ``-[α w₁ ỹ (1-q)^γ log q + (1-α) w₀ (1-ỹ) q^γ log(1-q)]``.

    ``ỹ`` is the (smoothed) target. With hard targets this is torchvision's ``sigmoid_focal_loss``
    (``α`` omitted means no balancing); with ``γ = 0`` and no ``α`` it is binary cross-entropy.
    Terms whose target weight is 0 contribute exactly 0. The focal factors are powers of the
    unclipped ``q`` and of its accurate complement ``not_q`` (``σ(-z)`` for logits); without
    them, of ``exp`` of the log-probabilities.

    >>> lq, lnq = np.log(np.array([0.8, 0.4, 0.6])), np.log(np.array([0.2, 0.6, 0.4]))
    >>> bce = bernoulli_loss(lq, lnq, np.array([1.0, 0.0, 1.0])) / np.log(2)
    >>> bce.round(3).tolist(), round(float(bce.sum()), 3)
    ([0.322, 0.737, 0.737], 1.796)
    """
    # The negative target 1 - ỹ = (1 - y)(1 - ε) + ε/2, not 1 minus a rounded ỹ (which keeps
    # few digits of ε/2 when ε is small and y = 1).
    plain = smoothing == 0.0 and gamma == 0.0 and alpha is None
    if plain and _is_one(weight_pos) and _is_one(weight_neg):
        # Binary cross-entropy, the same numbers in fewer passes: x · 1.0 is x, and
        # a + (b · −c) is a − b · c exactly.
        loss = np.negative(log_q)
        loss *= y
        neg = np.subtract(1.0, y)
        neg *= log_not_q
        loss -= neg
        return np.asarray(loss, dtype=np.float64)
    pos = smooth_binary_targets(y, smoothing) * -log_q
    neg = smooth_binary_targets(1.0 - y, smoothing) * -log_not_q
    if gamma != 0.0:
        # (1 - q)^γ, and q^γ = (1 - (1 - q))^γ: q is the negative outcome's complement.
        pos_factor = np.exp(gamma * log_not_q) if not_q is None else complement_power(not_q, gamma)
        neg_factor = np.exp(gamma * log_q) if q is None else complement_power(q, gamma)
        pos = pos * pos_factor
        neg = neg * neg_factor
    if alpha is not None:
        pos = pos * alpha
        neg = neg * (1.0 - alpha)
    return np.asarray(pos * weight_pos + neg * weight_neg, dtype=np.float64)


def _is_one(weight: Float | float) -> bool:
    return isinstance(weight, float) and weight == 1.0


def bernoulli_brier(q: Float, not_q: Float | None, y: Float) -> Float:
    """``(q - y)²`` elementwise; where ``q > 1/2``, as ``((1 - y) - (1 - q))²`` from the accurate
    complement ``not_q`` (``σ(-z)`` for logits).

    A sigmoid's ``q`` may round to 1 (``σ(40)``), where ``(q - 1)²`` is 0 but ``σ(-40)²`` is
    1.8e-35; ``1 - y`` is exact for ``y ≥ 1/2``, and for ``y < 1/2`` nothing cancels. Given
    probabilities are exact floats (``not_q`` of ``None``), whose ``q - y`` is exact where the
    two are close: the plain form.

    >>> one = np.array([1.0])
    >>> bernoulli_brier(one, np.array([4.248354255291589e-18]), one).tolist()
    [1.804851387845415e-35]
    """
    diff = np.subtract(q, y, dtype=np.float64)
    if not_q is not None:
        high = q > 0.5
        diff = np.where(high, (1.0 - y) - not_q, diff)
    return np.square(diff, out=diff)
