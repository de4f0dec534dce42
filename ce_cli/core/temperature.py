r"""Temperature scaling (Guo et al. 2017): the single β = 1/T that minimises the cross-entropy.

.. math::

    \mathrm{CE}(\beta) = \frac{1}{W}\sum_i s_i \Big[\log\sum_j e^{\beta z_{ij}}
        - \beta \sum_j p_{ij} z_{ij}\Big]

with ``z`` the logits, or the log of the clipped probabilities; a binary or multi-label row is a
two-class row ``(0, z)`` per label (``z`` the logit, or ``log q − log(1 − q)`` of the clipped
``q``, the same row shifted). CE is convex in β: its derivative is ``E_β[z] − p·z`` and its second
derivative the variance of ``z`` under ``softmax(βz)``, so a safeguarded Newton search converges
in a few steps. Every step is one pass over the data that sums value, gradient and curvature in
float64 (:func:`temperature_sums`, mergeable by +). Imports NumPy only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ce_cli.core.logprob import log_sigmoid

Float = NDArray[np.float64]

MAX_STEPS = 40
LIMIT = 2.0**20  # β beyond 2^±20 with CE still falling that way: the limit itself
# A Newton step below this fraction of β is taken without another pass: β is then within
# about its square of β* (quadratic convergence), far inside the contract's 1e-6.
RELATIVE_TOLERANCE = 1e-5


def log_inputs(predictions: NDArray[np.floating], logits: bool, eps: float) -> Float:
    """``z`` of the contract: the logits, or the log of the probabilities clipped to
    ``[eps, 1 − eps]`` (binary / multi-label: the logit of the clipped ``q``)."""
    x = np.asarray(predictions, dtype=np.float64)
    if logits:
        return x
    q = np.clip(x, eps, 1.0 - eps)
    return np.asarray(np.log(q), dtype=np.float64)


def two_class_logits(predictions: NDArray[np.floating], logits: bool, eps: float) -> Float:
    """Binary / multi-label ``z`` of the row ``(0, z)``: the logit, or that of the clipped ``q``."""
    x = np.asarray(predictions, dtype=np.float64)
    if logits:
        return x
    q = np.clip(x, eps, 1.0 - eps)
    return np.asarray(np.log(q) - np.log1p(-q), dtype=np.float64)


def temperature_sums(
    z: Float,
    beta: float,
    weight: Float | None,
    *,
    labels: NDArray[np.integer] | None = None,
    targets: Float | None = None,
) -> tuple[Float, Float, NDArray[np.intp]]:
    """``Σ s [value, gradient, curvature]`` of multi-class rows ``z`` (n, C) at ``β``, and each
    row's top-label confidence after scaling and its argmax (first index on ties).

    >>> z = np.log(np.array([[0.5, 0.5], [0.9, 0.1]]))
    >>> sums, confidence, top = temperature_sums(z, 1.0, None, labels=np.array([0, 0]))
    >>> np.round(sums, 6).tolist(), np.round(confidence, 6).tolist(), top.tolist()
    ([0.798508, -0.219722, 0.434502], [0.5, 0.9], [0, 0])
    """
    n = len(z)
    top = np.argmax(z, axis=1)
    shifted = z - z[np.arange(n), top][:, None]  # ≤ 0, the argmax at 0
    e = np.multiply(shifted, beta)
    np.exp(e, out=e)
    total = e.sum(axis=1)  # ≥ 1: the top's own term is 1
    mean = np.einsum("ij,ij->i", e, shifted) / total  # E[z − max z]
    e *= shifted
    second = np.einsum("ij,ij->i", e, shifted) / total
    if labels is not None:
        zt = shifted[np.arange(n), np.asarray(labels, dtype=np.intp)]
        mass: Float | float = 1.0
    else:  # Σ_j p_j (lse − β z_j): the log-sum-exp weighs by the row's mass
        assert targets is not None
        p = np.asarray(targets, dtype=np.float64)
        zt = np.einsum("ij,ij->i", p, shifted)
        mass = p.sum(axis=1)
    value = np.log(total) * mass - beta * zt
    grad = mean * mass - zt
    curve = np.maximum(second - mean * mean, 0.0) * mass
    sums = _weighted_columns(np.stack([value, grad, curve], axis=1), weight)
    return sums, 1.0 / total, top


def temperature_sums_two_class(z: Float, beta: float, weight: Float | None, y: Float) -> Float:
    """The same for binary (``z`` of shape (n,)) or multi-label (n, L) rows ``(0, z)`` against
    ``y`` (0/1 or soft), summed over a row's labels.

    >>> np.round(temperature_sums_two_class(np.array([2.0, -1.0]), 1.0, None,
    ...                                     np.array([1.0, 1.0])), 6).tolist()
    [1.44019, 0.492653, 0.616586]
    """
    x = beta * z
    lp = log_sigmoid(x)  # softplus(x) = -log σ(-x); σ(x) and σ(-x), each to a few ulps
    value = -lp.log_not_q - x * y
    grad = z * (lp.q - y)
    curve = z * z * lp.q * lp.not_q
    parts = [value, grad, curve]
    if z.ndim == 2:
        parts = [p.sum(axis=1) for p in parts]
    return _weighted_columns(np.stack(parts, axis=1), weight)


def _weighted_columns(per_row: Float, weight: Float | None) -> Float:
    if weight is None:
        return np.asarray(per_row.sum(axis=0), dtype=np.float64)
    return np.asarray(np.einsum("i,ij->j", weight, per_row), dtype=np.float64)


@dataclass(frozen=True)
class TemperatureFit:
    """β*, the weighted mean CE at β* (nats) and the search's record."""

    beta: float
    cross_entropy: float
    steps: int
    converged: bool
    evaluated_beta: float  # the last β a pass evaluated (its ECE is the one reported)


def fit_beta(
    evaluate: Callable[[float], tuple[float, float, float]],
    first: tuple[float, float, float] | None = None,
) -> TemperatureFit:
    """Minimise a convex CE(β) over β > 0 by safeguarded Newton steps.

    ``evaluate(β)`` returns the weighted means (value, gradient, curvature) — one pass over the
    data; ``first`` is that at β = 1 when the caller already has it. A step that would leave
    the bracket known to hold β* (gradient < 0 below, > 0 above) bisects it instead (quadrupling
    while no upper end is known, quartering while no lower one is). Stops when a Newton step is
    below 1e-5 of β: β is then β* to about its square; CE there is read from the quadratic model.

    CE may have no minimum at a finite β > 0. When the scores point away from the labels, CE is
    least at β → 0: the search looks at β = 2^-20 once a step would leave the bracket below, and
    reports ``beta`` 0 (an infinite temperature) if CE still rises there. When every row's true
    class has the top score CE falls for ever (β* = ∞); the caller knows that from the accuracy
    and asks no search. A search still unbracketed above at β ≥ 2^20 reports ``inf``.

    >>> fit = fit_beta(lambda b: ((b - 2.0) ** 2, 2 * (b - 2.0), 2.0))
    >>> fit.beta, fit.steps
    (2.0, 1)
    >>> fit_beta(lambda b: (b, 1.0, 0.0)).beta  # rises everywhere: least at β → 0
    0.0
    """
    beta, low, high = 1.0, 0.0, np.inf
    value, grad, curve = first if first is not None else evaluate(beta)
    for step in range(1, MAX_STEPS + 1):
        if grad > 0:
            high = min(high, beta)
        elif grad < 0:
            low = max(low, beta)
        if grad < 0 and not np.isfinite(high) and beta >= LIMIT:
            return TemperatureFit(np.inf, value, step - 1, True, beta)
        if grad > 0 and low == 0.0 and beta <= 1.0 / LIMIT:
            return TemperatureFit(0.0, value, step - 1, True, beta)
        newton = beta - grad / curve if curve > 0 else np.nan
        if grad == 0 or (np.isfinite(newton) and abs(newton - beta) <= RELATIVE_TOLERANCE * beta):
            # The last step, without a pass: CE at the new β from the quadratic model.
            final = float(newton) if grad != 0 else beta
            model = value - 0.5 * grad * grad / curve if grad != 0 else value
            return TemperatureFit(final, model, step - 1, True, beta)
        if not (np.isfinite(newton) and low < newton < high):
            if not np.isfinite(high):
                newton = beta * 4.0
            elif low == 0.0:  # is β* at 0 itself? One pass near it tells.
                newton = 1.0 / LIMIT
            else:
                newton = (low + high) / 2.0
        if high - low <= 1e-12 * beta:
            return TemperatureFit(beta, value, step - 1, True, beta)
        beta = float(newton)
        value, grad, curve = evaluate(beta)
    return TemperatureFit(beta, value, MAX_STEPS, False, beta)
