"""Log-probabilities from logits or probabilities: the one place where ``log`` meets a prediction.

Logits go through a stable log-softmax (multi-class) or log-sigmoid (binary, multi-label): the
maximum is subtracted before ``exp``, so ``log`` is never taken of a softmax. Probabilities are
clipped to ``[eps, 1 - eps]`` before ``log``, with ``eps`` the machine epsilon of the input's float
type, as scikit-learn's ``log_loss`` does (>= 1.5). All outputs are float64 and in nats.

Every output keeps its digits (a few ulps of the exact value of the input's own floats): a sum
``1 + r`` is never rounded before its log (``log1p(r)``), the complement ``1 - q`` of a probability
close to 1 is never formed by subtraction (``r / (1 + r)`` for the top class of a softmax,
``σ(-z)`` for a sigmoid), and ``log(1 - q)`` of a given probability is ``log1p(-q)``. Losses,
entropies, Brier scores and focal factors take these numbers, never a re-derived ``1 - q``.
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
    :attr:`not_q` is ``1 - q`` to full relative precision: for a softmax's top class (index
    ``top``, shape ``(..., 1)``), whose ``1 - q`` may lie far below an ulp of 1, it is
    ``top_complement = r / (1 + r)``; everywhere else ``1 - q`` itself is accurate (``q ≤ 1/2``,
    or ``q`` is a given float, whose ``1 - q`` is exact for ``q ≥ 1/2``).
    """

    log_q: Float
    q: Float
    clipped: NDArray[np.bool_]
    top: NDArray[np.intp] | None = None
    top_complement: Float | None = None

    @property
    def not_q(self) -> Float:
        """``1 - q`` without cancellation (a new array)."""
        out = 1.0 - self.q
        if self.top is not None and self.top_complement is not None:
            np.put_along_axis(out, self.top, self.top_complement, axis=-1)
        return out

    def not_q_at(self, index: NDArray[np.int64]) -> Float:
        """``1 - q[i, index[i]]`` for each row ``i`` of a matrix."""
        out = 1.0 - np.take_along_axis(self.q, index[:, None], axis=1)[:, 0]
        if self.top is not None and self.top_complement is not None:
            at_top = index == self.top[:, 0]
            out[at_top] = self.top_complement[at_top, 0]
        return out


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
    """Stable log-softmax over the last axis: ``z - m - log1p(r)``.

    ``m = z_p`` is the row's maximum (``p`` its first argmax) and ``r = Σ_{j≠p} exp(z_j - m)``:
    the sum ``1 + r`` is never rounded before its log, so a confident row, whose ``r`` is below
    an ulp of 1, keeps every digit of ``log q_p = -log1p(r)`` and of ``1 - q_p = r / (1 + r)``.
    Both terms of ``log q_j`` are ≤ 0, so nothing cancels.

    >>> lp = log_softmax(np.array([[0.0, 0.0], [1000.0, 0.0], [40.0, 0.0]]))
    >>> lp.log_q.round(6).tolist()
    [[-0.693147, -0.693147], [0.0, -1000.0], [-0.0, -40.0]]
    >>> float(lp.log_q[2, 0]), float(lp.not_q[2, 0])  # -e^-40 and e^-40, not 0
    (-4.248354255291589e-18, 4.248354255291589e-18)
    """
    z = np.asarray(logits, dtype=np.float64)
    top = np.argmax(z, axis=-1)[..., None]
    log_q = z - np.take_along_axis(z, top, axis=-1)  # z - m, turned into log q in place
    e = np.exp(log_q)
    np.put_along_axis(e, top, 0.0, axis=-1)
    rest = e.sum(axis=-1, keepdims=True)
    np.put_along_axis(e, top, 1.0, axis=-1)
    total = 1.0 + rest
    log_q -= np.log1p(rest)
    q = np.divide(e, total, out=e)
    clipped = np.zeros(z.shape[:-1], dtype=bool)
    return CategoricalLogProbs(log_q, q, clipped, top, rest / total)


def log_probabilities(
    probs: NDArray[np.floating],
    eps: float,
    out: Float | None = None,
    row_max: Float | None = None,
) -> CategoricalLogProbs:
    """``log(clip(q, eps, 1 - eps))`` for probability rows, flagging rows where a clip happened.

    ``out`` (float64, the shape of ``probs``) receives ``log q`` instead of a new array. The
    chunk's minimum and maximum tell whether any value needs the clip; only then are the rows
    found and clipped. ``row_max``, each row's largest value where the caller has it (the
    kernel's top-label confidence), saves the pass that finds the maximum.

    >>> lp = log_probabilities(np.array([[0.5, 0.5], [1.0, 0.0]]), 1e-7)
    >>> lp.clipped.tolist(), lp.log_q[1].round(6).tolist()
    ([False, True], [-0.0, -16.118096])
    """
    q = np.asarray(probs, dtype=np.float64)
    log_q = np.empty_like(q) if out is None else out
    with np.errstate(divide="ignore"):
        np.log(q, out=log_q)
    top = None if row_max is None else np.asarray(row_max, dtype=np.float64)
    if q.size and (q.min() < eps or (q.max() if top is None else top.max()) > 1.0 - eps):
        high = q.max(axis=-1) if top is None else top
        clipped = (q.min(axis=-1) < eps) | (high > 1.0 - eps)
        log_q[clipped] = np.log(np.clip(q[clipped], eps, 1.0 - eps))
    else:
        clipped = np.zeros(q.shape[:-1], dtype=bool)
    return CategoricalLogProbs(log_q, q, clipped)


def log_sigmoid(logits: NDArray[np.floating]) -> BernoulliLogProbs:
    """``log σ(z)``, ``log σ(-z)``, ``σ(z)`` and ``σ(-z)`` elementwise, from one ``exp``.

    With ``a = exp(-|z|)`` (never overflows): ``log σ(z) = min(z, 0) - log1p(a)`` and
    ``σ(z) = 1 / (1 + a)`` or ``a / (1 + a)``; likewise for ``-z``. Each is within a few ulps of
    the exact value, for any ``z`` (``σ(-z)`` is not ``1 - σ(z)``, which is 0 past ``z ≈ 37``).

    >>> lp = log_sigmoid(np.array([0.0, 40.0]))
    >>> lp.log_q.round(6).tolist(), lp.log_not_q.round(6).tolist()
    ([-0.693147, -0.0], [-0.693147, -40.0])
    >>> float(lp.not_q[1])
    4.248354255291589e-18
    """
    z = np.asarray(logits, dtype=np.float64)
    a = np.exp(-np.abs(z))
    soft = np.log1p(a)
    log_q = np.minimum(z, 0.0) - soft
    log_not_q = np.minimum(-z, 0.0) - soft
    total = 1.0 + a
    positive = z >= 0.0
    q = np.where(positive, 1.0, a) / total
    not_q = np.where(positive, a, 1.0) / total
    return BernoulliLogProbs(log_q, log_not_q, q, not_q, np.zeros(z.shape, dtype=bool))


def log_bernoulli_probabilities(probs: NDArray[np.floating], eps: float) -> BernoulliLogProbs:
    """``log(clip(q))`` and ``log(1 - clip(q))`` as scikit-learn does for a single column.

    ``log(1 - q)`` is ``log1p(-q)``: a small ``q``'s complement is not rounded before its log.

    >>> lp = log_bernoulli_probabilities(np.array([1e-15, 0.5]), 1e-16)
    >>> float(lp.log_not_q[0])  # log(1 - 1e-15); the log of a rounded 1 - q is -9.992e-16
    -1.0000000000000007e-15
    """
    q = np.asarray(probs, dtype=np.float64)
    # Two reductions screen the common case, where nothing is clipped (no mask, no copy).
    if q.size == 0 or (eps <= q.min() and q.max() <= 1.0 - eps):
        clipped = np.zeros(q.shape, dtype=bool)
        kept = q
    else:
        clipped = (q < eps) | (q > 1.0 - eps)
        kept = np.clip(q, eps, 1.0 - eps)
    log_not_q = np.negative(kept)
    np.log1p(log_not_q, out=log_not_q)
    return BernoulliLogProbs(np.log(kept), log_not_q, q, 1.0 - q, clipped)
