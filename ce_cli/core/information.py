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


# Below this |u| the series of h(u) = (1 + u) log1p(u) - u is summed (its first terms cancel in
# the closed form); _H_SERIES holds (-1)^k / (k (k - 1)) for k = 2 .. 28, enough for 1e-18 there.
SERIES_LIMIT = 0.25
_H_SERIES = np.array([(-1.0) ** k / (k * (k - 1)) for k in range(2, 29)])
# A row's KL is recomputed from non-negative terms where its plain sum is below this fraction of
# H(p) + CE, which bounds the sum's rounding error over eps (the logs' own roundings included):
# elsewhere the plain sum is within about 1e-14 relative.
KL_CANCELLED = 1e-2


def divergence_terms(a: Float, log_a: Float, b: Float, log_b: Float, diff: Float) -> Float:
    """``a log(a / b) - a + b`` elementwise (≥ 0), with ``diff = a - b`` given exactly.

    Summed over a distribution, ``Σ (a - b)`` vanishes and these are the KL divergence's terms,
    each non-negative: no cancellation between them. Where ``u = diff / b`` is small the term is
    ``b h(u)`` with ``h(u) = (1 + u) log1p(u) - u = u²/2 - u³/6 + …`` summed as a series,
    elsewhere ``a (log a - log b) - diff`` (``0 log 0 = 0``).

    >>> a = np.array([0.3, 0.0, 0.5]); b = np.array([0.3 + 1e-9, 0.2, 0.25])
    >>> divergence_terms(a, np.log(a + (a == 0)), b, np.log(b), a - b).tolist()
    [1.66666675372703e-18, 0.2, 0.09657359027997264]
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        out = np.where(a > 0, a * (log_a - log_b), 0.0) - diff
        u = diff / b
    small = np.abs(u) < SERIES_LIMIT
    if small.any():
        us = u[small]
        series = np.zeros_like(us)
        for c in _H_SERIES[::-1]:
            series = series * us + c
        out[small] = b[small] * (series * us * us)
    return np.asarray(out, dtype=np.float64)


def categorical_kl(targets: Float, lp: CategoricalLogProbs, bound: Float | None = None) -> Float:
    """``KL(p || q) = Σ_{p_j > 0} p_j (log p_j - log q_j)`` per row, for soft targets ``p``.

    ``log q`` is the (clipped) log-probability of the cross-entropy. The terms have both signs
    and cancel where ``q`` is close to ``p``: where the row's sum is below :data:`KL_CANCELLED`
    of ``bound`` (``H(p) + CE``, computed here when not given), the row is recomputed as
    ``Σ_j d(p_j, b_j) + Σ_j (p_j - b_j)`` with :func:`divergence_terms` (each ≥ 0) and a
    compensated sum of the differences (``Σ p_j - 1`` for a softmax, which sums to 1), ``b``
    the probability the log was taken of. (From logits, a ``q`` within 1e-9 of ``p`` still
    rounds: its KL is then as good as float64's ``q`` allows.)

    >>> from ce_cli.core.logprob import log_probabilities
    >>> p = np.array([[0.3, 0.7]]); q = np.array([[0.3 + 1e-10, 0.7 - 1e-10]])
    >>> categorical_kl(p, log_probabilities(q, 1e-16)).tolist()  # the plain sum: 1.1e-17
    [2.3809527746518206e-20]
    """
    log_p = np.zeros_like(targets, dtype=np.float64)
    np.log(targets, out=log_p, where=targets > 0)
    kl = np.asarray((targets * (log_p - lp.log_q)).sum(axis=-1), dtype=np.float64)
    if kl.ndim != 1 or not kl.size:
        return kl
    if bound is None:
        bound = np.asarray(-(targets * (log_p + lp.log_q)).sum(axis=-1), dtype=np.float64)
    cancelled = np.flatnonzero(np.abs(kl) < KL_CANCELLED * bound)
    if cancelled.size:
        p, log_b = targets[cancelled], lp.log_q[cancelled]
        b = np.where(lp.clipped[cancelled, None], np.exp(log_b), lp.q[cancelled])
        if lp.top is not None:  # a softmax sums to 1 exactly: Σ (p - q) = Σ p - 1
            diff = p - b
            # its top q may have rounded to 1: there p - q = (1 - q) - (1 - p)
            np.subtract(lp.not_q[cancelled], 1.0 - p, out=diff, where=b > 0.5)
            differences = np.hstack([p, np.full((p.shape[0], 1), -1.0)])
        else:
            diff = differences = p - b
        parts = divergence_terms(p, log_p[cancelled], b, log_b, diff).sum(axis=-1)
        kl[cancelled] = parts + compensated_row_sum(differences)
    return kl


def compensated_row_sum(a: Float) -> Float:
    """``Σ_j a_ij`` per row to within an ulp or two of the exact sum (Neumaier's compensated
    summation, vectorised across the rows), for sums that cancel.

    >>> compensated_row_sum(np.array([[1.0, 1e-17, -1.0], [0.1, 0.2, -0.3]])).tolist()
    [1e-17, 2.7755575615628914e-17]
    """
    total = a[:, 0].copy()
    carry = np.zeros_like(total)
    for j in range(1, a.shape[1]):
        x = a[:, j]
        t = total + x
        carry += np.where(np.abs(total) >= np.abs(x), (total - t) + x, (x - t) + total)
        total = t
    return np.asarray(total + carry, dtype=np.float64)


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
    """``y log(y/q) + (1-y) log((1-y)/(1-q))`` elementwise, ``0 log 0 = 0``.

    As the sum of two :func:`divergence_terms` (the ``±(y - q)`` between them cancel exactly),
    each ≥ 0, so a prediction close to its target keeps the digits of its tiny divergence. ``q``
    is the probability the log was taken of (clipped, for probabilities).

    >>> from ce_cli.core.logprob import log_bernoulli_probabilities
    >>> lp = log_bernoulli_probabilities(np.array([0.3000000001, 0.5]), 1e-16)
    >>> bernoulli_kl(np.array([0.3, 0.0]), lp).tolist()
    [2.3809527746518206e-20, 0.6931471805599453]
    """
    q, not_q = lp.q, lp.not_q
    if lp.clipped.any():
        q = np.where(lp.clipped, np.exp(lp.log_q), q)
        not_q = np.where(lp.clipped, np.exp(lp.log_not_q), not_q)
    log_y = np.zeros_like(y, dtype=np.float64)
    log_not_y = np.zeros_like(y, dtype=np.float64)
    np.log(y, out=log_y, where=y > 0)
    np.log1p(-y, out=log_not_y, where=y < 1)
    # y - q, as (1 - q) - (1 - y) where q > 1/2: a logit's σ(z) may have rounded to 1.
    diff = np.subtract(y, q, dtype=np.float64)
    np.subtract(not_q, 1.0 - y, out=diff, where=q > 0.5)
    return divergence_terms(y, log_y, q, lp.log_q, diff) + divergence_terms(
        1.0 - y, log_not_y, not_q, lp.log_not_q, -diff
    )
