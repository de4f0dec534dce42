"""Log-probabilities from logits or probabilities: the one place where ``log`` meets a prediction.

Logits go through a stable log-softmax (multi-class) or log-sigmoid (binary, multi-label): the
maximum is subtracted before ``exp``, so ``log`` is never taken of a softmax. Probabilities are
clipped to ``[eps, 1 - eps]`` before ``log``, with ``eps`` the machine epsilon of the input's float
type, as scikit-learn's ``log_loss`` does (>= 1.5). All outputs are float64 and in nats.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Float = NDArray[np.float64]


def machine_eps(dtype: np.dtype | type) -> float:
    """Machine epsilon of a float dtype (float64 for anything that is not a float).

    >>> machine_eps(np.float32)
    1.1920928955078125e-07
    """
    dt = np.dtype(dtype)
    return float(np.finfo(dt if dt.kind == "f" else np.float64).eps)


@dataclass(frozen=True)
class CategoricalLogProbs:
    """``log q`` and ``q`` for rows of a categorical distribution, plus which rows were clipped.

    ``q`` is the softmax of logits, or the probabilities exactly as given (unclipped: Brier score,
    accuracy, confidence and entropy use the model's own numbers; only ``log`` needs the clip).
    """

    log_q: Float
    q: Float
    clipped: NDArray[np.bool_]


@dataclass(frozen=True)
class BernoulliLogProbs:
    """``log q``, ``log(1 - q)``, ``q`` and ``1 - q`` for independent binary outcomes (any shape).

    ``not_q`` is ``σ(-z)`` for logits (accurate where ``q`` is close to 1) and ``1 - q`` otherwise.
    """

    log_q: Float
    log_not_q: Float
    q: Float
    not_q: Float
    clipped: NDArray[np.bool_]


def log_softmax(logits: NDArray[np.floating]) -> CategoricalLogProbs:
    """Stable log-softmax over the last axis: ``z - max(z) - log Σ exp(z - max(z))``.

    >>> lp = log_softmax(np.array([[0.0, 0.0], [1000.0, 0.0]]))
    >>> lp.log_q.round(6).tolist()
    [[-0.693147, -0.693147], [0.0, -1000.0]]
    """
    z = np.asarray(logits, dtype=np.float64)
    shifted = z - z.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    total = exp.sum(axis=-1, keepdims=True)
    log_q = shifted - np.log(total)
    q = exp / total
    return CategoricalLogProbs(log_q, q, np.zeros(z.shape[:-1], dtype=bool))


def log_probabilities(
    probs: NDArray[np.floating], eps: float, out: Float | None = None
) -> CategoricalLogProbs:
    """``log(clip(q, eps, 1 - eps))`` for probability rows, flagging rows where a clip happened.

    ``out`` (float64, the shape of ``probs``) receives ``log q`` instead of a new array. The
    chunk's minimum and maximum tell whether any value needs the clip; only then are the rows
    found and clipped.

    >>> lp = log_probabilities(np.array([[0.5, 0.5], [1.0, 0.0]]), 1e-7)
    >>> lp.clipped.tolist(), lp.log_q[1].round(6).tolist()
    ([False, True], [-0.0, -16.118096])
    """
    q = np.asarray(probs, dtype=np.float64)
    log_q = np.empty_like(q) if out is None else out
    with np.errstate(divide="ignore"):
        np.log(q, out=log_q)
    if q.size and (q.min() < eps or q.max() > 1.0 - eps):
        clipped = (q.min(axis=-1) < eps) | (q.max(axis=-1) > 1.0 - eps)
        log_q[clipped] = np.log(np.clip(q[clipped], eps, 1.0 - eps))
    else:
        clipped = np.zeros(q.shape[:-1], dtype=bool)
    return CategoricalLogProbs(log_q, q, clipped)


def log_sigmoid(logits: NDArray[np.floating]) -> BernoulliLogProbs:
    """Stable ``log σ(z)`` and ``log(1 - σ(z)) = log σ(-z)`` elementwise.

    >>> lp = log_sigmoid(np.array([0.0, 40.0]))
    >>> lp.log_q.round(6).tolist(), lp.log_not_q.round(6).tolist()
    ([-0.693147, -0.0], [-0.693147, -40.0])
    """
    z = np.asarray(logits, dtype=np.float64)
    log_q = -np.logaddexp(0.0, -z)
    log_not_q = -np.logaddexp(0.0, z)
    return BernoulliLogProbs(
        log_q, log_not_q, np.exp(log_q), np.exp(log_not_q), np.zeros(z.shape, dtype=bool)
    )


def log_bernoulli_probabilities(probs: NDArray[np.floating], eps: float) -> BernoulliLogProbs:
    """``log(clip(q))`` and ``log(clip(1 - q))`` as scikit-learn does for a single column."""
    q = np.asarray(probs, dtype=np.float64)
    not_q = 1.0 - q
    clipped = (q < eps) | (q > 1.0 - eps)
    log_q = np.log(np.clip(q, eps, 1.0 - eps))
    log_not_q = np.log(np.clip(not_q, eps, 1.0 - eps))
    return BernoulliLogProbs(log_q, log_not_q, q, not_q, clipped)
