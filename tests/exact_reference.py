"""Exact per-row values of the SPEC's definitions, in mpmath, for the accuracy tests and
``benchmarks/accuracy.py``: plain Python and mpmath, no pytest.

The values are computed at :data:`PREC` bits from the very floats given (float32 inputs widened
exactly), with nothing that could cancel (``1 - q`` of a softmax's top class as the sum of the
other classes' ``exp``, ``log(1 + r)`` as ``log1p(r)``, ``y - q`` near 1 as ``(1 - q) - (1 - y)``),
so each is exact to far below an ulp before its final rounding to float64.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import mpmath
import numpy as np

PREC = 256


# ---------------------------------------------------------------------------------------------
# The reference


def _mp(x: float) -> Any:
    return mpmath.mpf(float(x))


def _smoothed(p: list[Any], eps: float) -> list[Any]:
    c = len(p)
    return [(1 - _mp(eps)) * pj + _mp(eps) / c for pj in p]


def categorical_reference(
    row: Sequence[float],
    logits: bool,
    label: int | None = None,
    target: Sequence[float] | None = None,
    *,
    clip_eps: float = 2.0**-52,
    gamma: float = 0.0,
    smoothing: float = 0.0,
    weights: Sequence[float] | None = None,
) -> dict[str, float]:
    """The SPEC's per-row numbers of one multi-class row, exactly."""
    with mpmath.workprec(PREC):
        c = len(row)
        x = [_mp(v) for v in row]
        if logits:
            top = max(range(c), key=lambda j: (x[j], -j))
            e = [mpmath.exp(v - x[top]) for v in x]
            rest = mpmath.fsum(e[j] for j in range(c) if j != top)
            total = 1 + rest
            log_q = [x[j] - x[top] - mpmath.log1p(rest) for j in range(c)]
            q = [ej / total for ej in e]
            # 1 - q_j as a sum of the other classes (no cancellation at the top class).
            not_q = [(rest if j == top else total - e[j]) / total for j in range(c)]
            log_q_clipped = log_q
        else:
            q = x
            not_q = [1 - v for v in x]
            lo, hi = _mp(clip_eps), 1 - _mp(clip_eps)
            log_q_clipped = [mpmath.log(min(max(v, lo), hi)) for v in x]
            log_q = [mpmath.log(v) if v > 0 else mpmath.mpf("-inf") for v in x]
        if target is None:
            assert label is not None
            p = [mpmath.mpf(int(j == label)) for j in range(c)]
        else:
            p = [_mp(v) for v in target]
        t = label if label is not None else max(range(c), key=lambda j: (p[j], -j))
        w = [mpmath.mpf(1)] * c if weights is None else [_mp(v) for v in weights]
        ps = p if smoothing == 0.0 else _smoothed(p, smoothing)
        ce = mpmath.fsum(-pj * lq for pj, lq in zip(p, log_q_clipped, strict=True) if pj != 0)
        loss = mpmath.fsum(
            -w[j] * ps[j] * (not_q[j] ** _mp(gamma) if gamma else 1) * log_q_clipped[j]
            for j in range(c)
            if ps[j] != 0
        )
        entropy = mpmath.fsum(-q[j] * log_q[j] for j in range(c) if q[j] != 0)
        kl = mpmath.fsum(
            p[j] * (mpmath.log(p[j]) - log_q_clipped[j]) for j in range(c) if p[j] != 0
        )
        label_entropy = mpmath.fsum(-pj * mpmath.log(pj) for pj in p if pj != 0)
        # q_j - p_j; where q_j > 1/2 as (1 - p_j) - (1 - q_j), both exact.
        diff = [((1 - p[j]) - not_q[j]) if q[j] > 0.5 else q[j] - p[j] for j in range(c)]
        brier = mpmath.fsum(d * d for d in diff)
        return {
            "loss": float(loss),
            "cross_entropy": float(ce),
            "entropy": float(entropy),
            "kl_divergence": float(kl),
            "label_entropy": float(label_entropy),
            "brier": float(brier),
            "true_prob": float(q[t]),
            "confidence": float(max(q)),
        }


def bernoulli_reference(
    value: float,
    logits: bool,
    y: float,
    *,
    clip_eps: float = 2.0**-52,
    gamma: float = 0.0,
    alpha: float | None = None,
    smoothing: float = 0.0,
    w_neg: float = 1.0,
    w_pos: float = 1.0,
) -> dict[str, float]:
    """The SPEC's numbers of one binary outcome (one label of a multi-label row), exactly."""
    with mpmath.workprec(PREC):
        yv, x = _mp(y), _mp(value)
        if logits:
            q = 1 / (1 + mpmath.exp(-x))
            not_q = 1 / (1 + mpmath.exp(x))
            log_q = -mpmath.log1p(mpmath.exp(-x))
            log_not_q = -mpmath.log1p(mpmath.exp(x))
            lq, lnq = log_q, log_not_q
        else:
            q, not_q = x, 1 - x
            lo, hi = _mp(clip_eps), 1 - _mp(clip_eps)
            kept = min(max(x, lo), hi)
            lq, lnq = mpmath.log(kept), mpmath.log1p(-kept)
            log_q = mpmath.log(q) if q > 0 else mpmath.mpf(0)
            log_not_q = mpmath.log1p(-q) if q < 1 else mpmath.mpf(0)
        eps = _mp(smoothing)
        ys = yv * (1 - eps) + eps / 2
        not_ys = (1 - yv) * (1 - eps) + eps / 2
        g = _mp(gamma)
        pos = ys * -lq * (not_q**g if gamma else 1) * _mp(w_pos)
        neg = not_ys * -lnq * (q**g if gamma else 1) * _mp(w_neg)
        if alpha is not None:
            pos, neg = pos * _mp(alpha), neg * (1 - _mp(alpha))
        ce = -(yv * lq if yv else 0) - ((1 - yv) * lnq if yv != 1 else 0)
        entropy = -(q * log_q) - not_q * log_not_q
        kl = (yv * (mpmath.log(yv) - lq) if yv else 0) + (
            (1 - yv) * (mpmath.log1p(-yv) - lnq) if yv != 1 else 0
        )
        diff = ((1 - yv) - not_q) if yv >= 0.5 else q - yv
        positive = x >= 0 if logits else x >= 0.5
        return {
            "loss": float(pos + neg),
            "cross_entropy": float(ce),
            "entropy": float(entropy),
            "kl_divergence": float(kl),
            "brier": float(diff * diff),
            "true_prob": float(yv * q + (1 - yv) * not_q),
            "confidence": float(q if positive else not_q),
        }


# ---------------------------------------------------------------------------------------------
# Rows built to lose digits


def multiclass_logit_blocks() -> list[np.ndarray]:
    """Matrices of logits (one width each): confident rows, spreads of 1e3, ±1e4, near float32
    max, ties, and widths from 2 to 50,000."""
    rng = np.random.default_rng(12)
    return [
        np.array([[37.0, 0.0], [40.0, 0.0], [745.0, 0.0], [700.0, -1.0], [0.0, 0.0], [1e4, -1e4]]),
        np.array(
            [
                [40.0, 0.0, 0.0],
                [36.5, 0.0, -3.0],
                [5.0, 5.0, 0.0],
                [1e4, -1e4, 0.0],
                [-1e4, 0.0, 1e4],
                [1e3, -1e3, 999.0],
                [3.0e38, -3.0e38, 1.0],
                [1e-17, -1e-17, 0.0],
            ]
        ),
        rng.uniform(-1e3, 1e3, (6, 7)),
        rng.standard_normal((6, 10)) * 3.0,
        np.vstack([np.r_[30.0, np.zeros(99)], np.r_[np.zeros(99), 45.0]]),
        np.vstack([np.r_[40.0, rng.standard_normal(999) * 0.5], rng.uniform(-1e3, 1e3, 1000)]),
        np.r_[52.0, rng.standard_normal(49_999)][None, :],
    ]


SOFT_TARGETS_3 = [
    [1.0, 0.0, 0.0],
    [0.0, 1.0, 0.0],
    [0.5, 0.5, 0.0],
    [0.0, 0.25, 0.75],
    [0.2, 0.3, 0.5],
    [1.0, 0.0, 0.0],
    [0.0, 0.0, 1.0],
    [0.9, 0.0, 0.1],
]
PROBABILITY_ROWS_3 = [
    [1.0 - 1e-12, 1e-12, 0.0],
    [1e-300, 0.5, 0.5],
    [0.7, 0.2, 0.1],
    [1.0, 0.0, 0.0],
    [1e-15, 1.0 - 1e-15, 0.0],
    [0.5, 0.25, 0.25],
    [1.0 - 2e-16, 1e-16, 1e-16],
    [1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0],
]
BINARY_LOGITS = [
    -1e4, -745.0, -700.0, -40.0, -37.0, -1.0, -1e-17, 0.0, 1e-17, 0.5, 37.0, 40.0, 745.0, 1e4,
    3.0e38, -3.0e38,
]  # fmt: skip
BINARY_PROBABILITIES = [
    0.0, 1e-300, 1e-15, 1e-7, 0.3, 0.5, 1.0 - 1e-7, 1.0 - 1e-12, 1.0 - 2.0**-53, 1.0,
]  # fmt: skip
