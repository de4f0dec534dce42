"""Entropy and KL divergence per row, in nats, with ``0 log 0 = 0``.

They use the same log-probabilities as the cross-entropy, so that per row
``cross_entropy = label_entropy + kl_divergence`` holds up to rounding. For multi-label rows, and
for binary rows, the distribution is a product of independent Bernoulli outcomes, so entropy and KL
are the sums over labels of the Bernoulli entropies and divergences.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ce_cli.core.logprob import BernoulliLogProbs, CategoricalLogProbs

Float = NDArray[np.float64]


def xlogx(x: Float) -> Float:
    """``x log x`` elementwise, with ``0 log 0 = 0``.

    >>> xlogx(np.array([0.0, 0.5, 1.0])).round(6).tolist()
    [0.0, -0.346574, 0.0]
    """
    out = np.zeros_like(x, dtype=np.float64)
    np.log(x, out=out, where=x > 0)
    return out * x


def complement_xlogx(x: Float) -> Float:
    """``(1 - x) log(1 - x)`` elementwise, from ``log1p(-x)``, with ``0 log 0 = 0`` at ``x = 1``.

    The log is not taken of a rounded ``1 - x``: at ``x = 1e-300`` this is ``-1e-300``, not 0.

    >>> complement_xlogx(np.array([1e-300, 0.5, 1.0])).tolist()
    [-1e-300, -0.34657359027997264, 0.0]
    """
    out = np.zeros_like(x, dtype=np.float64)
    np.log1p(-x, out=out, where=x < 1)
    return out * (1.0 - x)


def categorical_entropy(lp: CategoricalLogProbs) -> Float:
    """``H(q) = -Σ_j q_j log q_j`` per row.

    Where a probability was clipped for the log (0 or 1), the unclipped ``q log q`` is used, so a
    one-hot prediction has entropy exactly 0.

    >>> from ce_cli.core.logprob import log_probabilities
    >>> float(categorical_entropy(log_probabilities(np.array([[0.5, 0.5]]), 1e-16))[0] / np.log(2))
    1.0
    """
    entropy = -np.einsum("...j,...j->...", lp.q, lp.log_q)
    if lp.clipped.any():
        rows = lp.clipped
        entropy[rows] = -xlogx(lp.q[rows]).sum(axis=-1)
    return np.asarray(entropy, dtype=np.float64)


def softmax_entropy(rest_over_top: Float, weighted_gap: Float, total: Float) -> Float:
    """``H(softmax(z)) = log(s / e_p) - Σ_{j≠p} e_j (z_j - m) / s`` per row, with no log matrix.

    ``p`` is the row's argmax, ``m = z_p``, ``e_j = exp(z_j - c)`` for any shift ``c`` of the row
    and ``s = Σ_j e_j``. From ``r / e_p`` (``r = s - e_p``), the weighted gap
    ``Σ_{j≠p} e_j (z_j - m)`` (≤ 0) and ``s``: two non-negative terms, so a confident row, whose
    entropy is tiny, keeps its digits.

    >>> z = np.array([[1.0, 2.0, 3.0]]); e = np.exp(z); gap = e[:, :2] @ (z[0, :2] - 3.0)
    >>> round(float(softmax_entropy(e[:, :2].sum(axis=1) / e[:, 2], gap, e.sum(axis=1))[0]), 6)
    0.832396
    """
    return np.asarray(np.log1p(rest_over_top) - weighted_gap / total, dtype=np.float64)


def categorical_kl(targets: Float, lp: CategoricalLogProbs) -> Float:
    """``KL(p || q) = Σ_{p_j > 0} p_j (log p_j - log q_j)`` per row, for soft targets ``p``."""
    log_p = np.zeros_like(targets, dtype=np.float64)
    np.log(targets, out=log_p, where=targets > 0)
    return np.asarray((targets * (log_p - lp.log_q)).sum(axis=-1), dtype=np.float64)


def categorical_label_entropy(targets: Float) -> Float:
    """``H(p)`` per row of soft targets (0 for one-hot rows)."""
    return np.asarray(-xlogx(targets).sum(axis=-1), dtype=np.float64)


def bernoulli_entropy(lp: BernoulliLogProbs) -> Float:
    """``-[q log q + (1-q) log(1-q)]`` elementwise (same shape as ``q``).

    Two terms of one sign, each from an accurate log. Where a probability was clipped for the
    log, the unclipped ``q`` is used (:func:`xlogx`, :func:`complement_xlogx`), so 0 and 1 give
    exactly 0 and ``q = 1e-300`` keeps its ``-(1-q) log(1-q) ≈ q`` term.

    >>> from ce_cli.core.logprob import log_bernoulli_probabilities
    >>> bernoulli_entropy(log_bernoulli_probabilities(np.array([0.5, 0.0, 1e-300]), 1e-16)).tolist()
    [0.6931471805599453, 0.0, 6.917755278982137e-298]
    """
    terms = lp.q * lp.log_q + lp.not_q * lp.log_not_q
    if lp.clipped.any():
        mask = lp.clipped
        terms[mask] = xlogx(lp.q[mask]) + complement_xlogx(lp.q[mask])
    return 0.0 - terms  # not -terms: a certain prediction's entropy is 0.0, not -0.0


def bernoulli_label_entropy(y: Float) -> Float:
    """Entropy of the target Bernoulli elementwise (0 for hard 0/1 targets)."""
    return -(xlogx(y) + complement_xlogx(y))


def bernoulli_kl(y: Float, lp: BernoulliLogProbs) -> Float:
    """``y log(y/q) + (1-y) log((1-y)/(1-q))`` elementwise, ``0 log 0 = 0``."""
    not_y = 1.0 - y
    log_y = np.zeros_like(y, dtype=np.float64)
    log_not_y = np.zeros_like(y, dtype=np.float64)
    np.log(y, out=log_y, where=y > 0)
    np.log1p(-y, out=log_not_y, where=y < 1)
    return np.asarray(y * (log_y - lp.log_q) + not_y * (log_not_y - lp.log_not_q), dtype=np.float64)
