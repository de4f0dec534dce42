"""The multi-class kernels: every per-row number from a rows × classes matrix of logits or
probabilities, hard labels through fused block-wise kernels that keep their scratch in cache,
soft targets through the general path."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ce_cli.core import information as info
from ce_cli.core.logprob import (
    CategoricalLogProbs,
    log_probabilities,
    log_softmax,
)
from ce_cli.core.losses import (
    categorical_loss,
    hard_label_loss,
    hard_label_weights,
)
from ce_cli.core.picks import Picks, ScaledPicks
from ce_cli.core.rowwise import SWEEP_COLUMNS, row_argmax, row_dot, row_sum
from ce_cli.core.sample_values import (
    Float,
    Int,
    LossSpec,
    SampleValues,
)
from ce_cli.core.workspace import Workspace, scratch

# A row whose logits all lie within ±EXP_SAFE is exponentiated as it is: exp(z) and its square
# are then normal doubles (none overflows, none loses digits to underflow), and a row sum of them
# overflows only past e^100 classes.
EXP_SAFE = 300.0


# The fused kernels work through a chunk in blocks of about this many values, so that a block's
# scratch matrices stay in the core's cache while the per-row arithmetic runs once per chunk.
BLOCK_VALUES = 1 << 18


def _multiclass(
    predictions: NDArray[np.floating],
    spec: LossSpec,
    labels: Int | None,
    targets: NDArray[np.floating] | None,
    workspace: Workspace | None,
    picks: Picks | None = None,
    scaled_picks: ScaledPicks | None = None,
) -> SampleValues:
    plain = spec.loss == "ce" and spec.smoothing == 0.0 and spec.class_weights is None
    if labels is not None and predictions.shape[0] and predictions.shape[1]:
        # Hard labels: the fused kernels, with or without modifiers, so that a modifier changes
        # the loss and nothing else (cross_entropy, entropy, ... keep their bits).
        if spec.logits:
            return _multiclass_logits_hard(
                predictions, labels, spec, plain, workspace, scaled_picks
            )
        return _multiclass_probabilities_hard(predictions, labels, spec, plain, workspace, picks)
    lp = log_softmax(predictions) if spec.logits else log_probabilities(predictions, spec.eps)
    n = lp.q.shape[0]
    rows = np.arange(n)
    predicted = np.argmax(predictions, axis=1).astype(np.int64)
    confidence = lp.q[rows, predicted]
    entropy = info.categorical_entropy(lp)
    loss_weight: Float | None
    if labels is not None:  # no rows, or no classes
        true_class = labels.astype(np.int64, copy=False)
        cross_entropy = -lp.log_q[rows, true_class]
        kl = cross_entropy
        label_entropy = None
        p = np.zeros_like(lp.q)
        p[rows, true_class] = 1.0
        loss_weight = hard_label_weights(true_class, spec.class_weights)
    else:
        assert targets is not None
        p = np.asarray(targets, dtype=np.float64)
        true_class = np.argmax(p, axis=1).astype(np.int64)
        cross_entropy = -row_dot(p, lp.log_q)
        label_entropy = info.categorical_label_entropy(p)
        kl = info.categorical_kl(p, lp, label_entropy + cross_entropy)
        loss_weight = None
    loss = cross_entropy if plain else _modified_loss(lp, spec, labels, targets)
    return _multiclass_values(
        loss=loss,
        loss_weight=loss_weight,
        cross_entropy=cross_entropy,
        entropy=entropy,
        brier=_categorical_brier(lp, p, predicted),
        confidence=confidence,
        predicted=predicted,
        true_class=true_class,
        true_prob=lp.q[rows, true_class],
        clipped=lp.clipped,
        label_entropy=label_entropy,
        kl_divergence=kl,
    )


def _categorical_brier(lp: CategoricalLogProbs, p: Float, predicted: Int) -> Float:
    """``Σ_j (q_j - p_j)²`` per row; a softmax's top ``q`` above 1/2 as ``(1 - p) - (1 - q)``.

    That ``q`` may lie within an ulp of 1, where ``q - p`` would be rounded to 0 for ``p = 1``;
    ``1 - q`` is the accurate complement and ``1 - p`` is exact for ``p ≥ 1/2`` (a one-hot target
    gives ``(1 - q_p)²`` with all its digits). Every other ``q_j`` is at most 1/2, and given
    probabilities are exact floats, whose ``q - p`` is exact where the two are close.
    """
    diff = lp.q - p
    if lp.top is not None and lp.top_complement is not None:
        rows = np.arange(p.shape[0])
        top_p = p[rows, predicted]
        q_top = lp.q[rows, predicted]
        complement = (1.0 - top_p) - lp.top_complement[:, 0]
        diff[rows, predicted] = np.where(q_top > 0.5, complement, q_top - top_p)
    return row_dot(diff, diff)


def _modified_loss(
    lp: CategoricalLogProbs,
    spec: LossSpec,
    labels: Int | None,
    targets: NDArray[np.floating] | None,
) -> Float:
    """The chosen loss variant (focal, smoothing, class weights) of multi-class rows; ``1 - q``
    is formed only where the focal factor needs it (at the true class, without smoothing)."""
    gamma = spec.focal_gamma
    if labels is not None and spec.smoothing == 0.0:
        t = labels.astype(np.int64, copy=False)
        nll = -np.take_along_axis(lp.log_q, t[:, None], axis=1)[:, 0]
        weight = hard_label_weights(t, spec.class_weights)
        return hard_label_loss(nll, lp.not_q_at(t) if gamma != 0.0 else None, gamma, weight)
    return categorical_loss(
        lp.log_q,
        not_q=lp.not_q if gamma != 0.0 else None,
        labels=labels.astype(np.int64, copy=False) if labels is not None else None,
        targets=None if labels is not None else np.asarray(targets, dtype=np.float64),
        smoothing=spec.smoothing,
        gamma=spec.focal_gamma,
        class_weights=spec.class_weights,
    )


def _multiclass_logits_hard(
    z: NDArray[np.floating],
    labels: Int,
    spec: LossSpec,
    plain: bool,
    workspace: Workspace | None,
    scaled_picks: ScaledPicks | None = None,
) -> SampleValues:
    """Logits with hard labels, in as few passes as possible.

    The same numbers as the general path, from ``e_j = exp(z_j - c)`` alone, where the shift
    ``c`` is 0 for a row whose logits all lie within ±:data:`EXP_SAFE` (a pass saved) and the
    row's maximum ``m`` otherwise: every number below is a ratio of sums of ``e``, so ``c``
    cancels. With ``p`` the argmax, ``t`` the true class, ``r_t`` (``r_p``) the sum of ``e``
    over the classes other than ``t`` (``p``) and ``s`` the sum over all:

    * ``CE = log1p(r_t / e_t)`` where ``r_t < e_t``, else ``log1p(r_p / e_p) + (m - z_t)``;
    * ``H = log1p(r_p / e_p) - Σ_{j≠p} e_j (z_j - m) / s``;
    * top confidence ``e_p / s``; ``Brier = (r_t / s)² + Σ_{j≠t} e_j² / s²``.

    No subtraction of nearly equal numbers but one: ``Σ_{j≠p} e_j (z_j - m)`` is formed as
    ``Σ e_j z_j - m Σ e_j`` over ``j ∉ {t, p}``, which costs at most about ``|m|`` ulps of the
    entropy (≤ 1e-13 relative with ``|m| ≤ 300``; the other numbers keep all their digits).
    ``z`` may be float32: it is widened to float64 (exactly) first, so nothing is rounded to
    float32.

    The loss with modifiers is ``w_t (r_t / s)^γ CE`` (``1 - q_t = r_t / s`` keeps its digits
    where ``q_t`` is close to 1); with label smoothing it needs every class's log-probability,
    from :func:`~ce_cli.core.logprob.log_softmax` a block at a time.
    """
    n = z.shape[0]
    true_class = labels.astype(np.int64, copy=False)
    sums = _LogitSums.empty(n)
    # Label smoothing without focal needs Σ_j w_j (-log q_j), which is
    # W log1p(r_p / e_p) + Σ_j w_j (m - z_j) (W = Σ_j w_j; two non-negative terms): one more
    # row sum in the block pass, and no log matrix.
    smooth = spec.smoothing != 0.0 and spec.focal_gamma == 0.0
    for part in _blocks(z):
        _logit_block_sums(
            z[part], true_class[part], workspace, sums, part, smooth, spec, scaled_picks
        )
    predicted, top, z_true = sums.predicted, sums.top, sums.z_true
    e_top, e_true, others = sums.e_top, sums.e_true, sums.others
    others_squares, others_z = sums.others_squares, sums.others_z
    wrong = predicted != true_class
    rest_true = others + np.where(wrong, e_top, 0.0)
    rest_top = others + np.where(wrong, e_true, 0.0)
    weighted_gap = others_z - top * others + np.where(wrong, e_true * (z_true - top), 0.0)
    total = e_true + rest_true
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        top_term = np.log1p(rest_top / e_top)
        # log1p(r_t / e_t) keeps a confident row's digits; where r_t >= e_t (q_t <= 1/2,
        # loss >= log 2) the other form has no cancellation, and r_t / e_t could overflow.
        cross_entropy = np.where(
            rest_true < e_true, np.log1p(rest_true / e_true), top_term + (top - z_true)
        )
    entropy = info.softmax_entropy(rest_top / e_top, weighted_gap, total)
    brier = (rest_true / total) ** 2 + (others_squares + np.where(wrong, e_top * e_top, 0.0)) / (
        total * total
    )
    if plain:
        loss = cross_entropy
    elif spec.smoothing == 0.0:
        weight = hard_label_weights(true_class, spec.class_weights)
        loss = hard_label_loss(cross_entropy, rest_true / total, spec.focal_gamma, weight)
    elif smooth:
        w = spec.class_weights
        all_terms = (z.shape[1] if w is None else float(w.sum())) * top_term + sums.top_gap
        eps = spec.smoothing
        true_terms = cross_entropy if w is None else w[true_class] * cross_entropy
        loss = (1.0 - eps) * true_terms + (eps / z.shape[1]) * all_terms
    else:
        loss = np.empty(n)
        for part in _blocks(z):
            loss[part] = _modified_loss(log_softmax(z[part]), spec, true_class[part], None)
    return _multiclass_values(
        loss=loss,
        loss_weight=hard_label_weights(true_class, spec.class_weights),
        cross_entropy=cross_entropy,
        entropy=entropy,
        brier=brier,
        confidence=e_top / total,
        predicted=predicted,
        true_class=true_class,
        true_prob=e_true / total,
        clipped=np.zeros(n, dtype=bool),
    )


@dataclass(frozen=True)
class _LogitSums:
    """Per-row sums of logits, each row's in its own shift (0, or the row's maximum)."""

    predicted: Int
    top: Float
    z_true: Float
    e_top: Float
    e_true: Float
    others: Float
    others_squares: Float
    others_z: Float
    top_gap: Float  # Σ_j w_j (m - z_j), for label smoothing only

    @staticmethod
    def empty(n: int) -> _LogitSums:
        return _LogitSums(np.empty(n, dtype=np.int64), *(np.empty(n) for _ in range(8)))


def _logit_block_sums(
    z: NDArray[np.floating],
    t: Int,
    workspace: Workspace | None,
    out: _LogitSums,
    part: slice,
    smooth: bool = False,
    spec: LossSpec | None = None,
    scaled_picks: ScaledPicks | None = None,
) -> None:
    """The row sums of :func:`_multiclass_logits_hard` for a block of rows small enough that
    its scratch matrices stay in cache, written to rows ``part`` of ``out``; the block's
    exponentials go to ``scaled_picks`` too (``q = e / s``, ``s`` summed as the caller does)."""
    rows = np.arange(z.shape[0])
    wide = scratch(workspace, "wide", z)
    if z.dtype != np.float64:
        # Widened first and searched in the copy, which is in cache: fewer slow passes.
        np.copyto(wide, z)
        z = wide
    predicted = row_argmax(z)
    out.predicted[part] = predicted
    # The row maximum is the value at the argmax: one reduction instead of two.
    top = z[rows, predicted]
    if not (top.max() <= EXP_SAFE and z.min() >= -EXP_SAFE):
        # Rows reaching past ±EXP_SAFE are shifted by their maximum, each decided on its own
        # values, so a row's numbers never depend on the rows beside it.
        far = (top > EXP_SAFE) | (z.min(axis=1) < -EXP_SAFE)
        if z is not wide:
            np.copyto(wide, z)
            z = wide
        z[far] -= top[far, None]
        top = np.where(far, 0.0, top)
    out.top[part] = top
    out.z_true[part] = z[rows, t]
    if smooth:
        gap = scratch(workspace, "gap", z)
        np.subtract(top[:, None], z, out=gap)
        w = None if spec is None else spec.class_weights
        if w is None:
            row_sum(gap, out=out.top_gap[part])
        else:
            np.einsum("ij,j->i", gap, w, out=out.top_gap[part])
    e = scratch(workspace, "exp", z)
    np.exp(z, out=e)
    out.e_top[part] = e[rows, predicted]
    out.e_true[part] = e[rows, t]
    e[rows, t] = 0.0
    e[rows, predicted] = 0.0
    row_sum(e, out=out.others[part])  # the sums over j ∉ {t, p}
    row_dot(e, e, out=out.others_squares[part])
    row_dot(e, z, out=out.others_z[part])
    if scaled_picks is not None:
        e_top, e_true = out.e_top[part], out.e_true[part]
        wrong = predicted != t
        # The caller's total, e_true + rest_true, to the bit: q here is its e / s.
        total = e_true + (out.others[part] + np.where(wrong, e_top, 0.0))
        scaled_picks.add(
            part.start or 0,
            e,
            total,
            (
                (rows, t, e_true / total),
                (rows[wrong], predicted[wrong], e_top[wrong] / total[wrong]),
            ),
        )


def _multiclass_probabilities_hard(
    probabilities: NDArray[np.floating],
    labels: Int,
    spec: LossSpec,
    plain: bool,
    workspace: Workspace | None,
    picks: Picks | None = None,
) -> SampleValues:
    """Probability rows with hard labels: the general path's numbers with no rows × classes
    allocation (the log and the squares go to the workspace, a cache-sized block at a time).

    Brier is ``(1 - q_t)² + Σ_{j≠t} q_j²`` with the true class masked out of the squares, not
    ``Σ q² - 2 q_t + 1``, so a confident row keeps all its digits.

    The argmax of a column-major matrix (Parquet columns stacked) copies it to row-major, the
    kernel's slowest pass: with ``picks`` it is read from them (see :func:`_argmax_of_picks`).
    """
    n = probabilities.shape[0]
    true_class = labels.astype(np.int64, copy=False)
    clipped = np.empty(n, dtype=bool)
    entropy, q_true, cross_entropy, rest_squares = (np.empty(n) for _ in range(4))
    known = _argmax_of_picks(probabilities, picks)
    if known is None:
        predicted, confidence = np.empty(n, dtype=np.int64), np.empty(n)
    else:
        predicted, confidence = known
    loss = cross_entropy if plain else np.empty(n)
    for part in _blocks(probabilities):
        q = probabilities[part]
        t = true_class[part]
        lp = log_probabilities(
            q,
            spec.eps,
            out=scratch(workspace, "log_q", q),
            row_max=None if known is None else confidence[part],
        )
        q, log_q = lp.q, lp.log_q
        rows = np.arange(q.shape[0])
        clipped[part] = lp.clipped
        entropy[part] = info.categorical_entropy(lp)
        if known is None:
            top = row_argmax(q)
            predicted[part] = top
            confidence[part] = q[rows, top]
        q_true[part] = q[rows, t]
        np.negative(log_q[rows, t], out=cross_entropy[part])
        squares = scratch(workspace, "squares", q)
        np.multiply(q, q, out=squares)
        squares[rows, t] = 0.0
        row_sum(squares, out=rest_squares[part])
        if not plain:
            loss[part] = _modified_loss(lp, spec, t, None)
    return _multiclass_values(
        loss=loss,
        loss_weight=hard_label_weights(true_class, spec.class_weights),
        cross_entropy=cross_entropy,
        entropy=entropy,
        brier=(1.0 - q_true) ** 2 + rest_squares,
        confidence=confidence,
        predicted=predicted,
        true_class=true_class,
        true_prob=q_true,
        clipped=clipped,
    )


def _argmax_of_picks(
    probabilities: NDArray[np.floating], picks: Picks | None
) -> tuple[Int, Float] | None:
    """Each row's first argmax and its probability, from ``picks`` where that is cheaper than
    ``np.argmax`` (a column-major float64 matrix wider than the sweep, few picks, few rows with
    none: those rows are searched on their own); else ``None``."""
    if (
        picks is None
        or not picks.by_class
        or picks.every
        or probabilities.dtype != np.float64
        or probabilities.shape[1] <= SWEEP_COLUMNS
    ):
        return None
    predicted, top, missing = picks.row_argmax()
    lone = np.flatnonzero(missing)
    if 8 * lone.size > probabilities.shape[0]:
        return None
    if lone.size:
        rest = np.asarray(probabilities[lone], dtype=np.float64)
        found = row_argmax(rest)
        predicted[lone] = found
        top[lone] = rest[np.arange(lone.size), found]
    return predicted.astype(np.int64, copy=False), top


def _blocks(matrix: NDArray[np.floating]) -> Iterator[slice]:
    """Consecutive row ranges of ``matrix`` of about :data:`BLOCK_VALUES` values each."""
    n, width = matrix.shape
    step = max(1, BLOCK_VALUES // max(width, 1))
    for a in range(0, n, step):
        yield slice(a, min(a + step, n))


def _multiclass_values(
    *,
    loss: Float,
    loss_weight: Float | None,
    cross_entropy: Float,
    entropy: Float,
    brier: Float,
    confidence: Float,
    predicted: Int,
    true_class: Int,
    true_prob: Float,
    clipped: NDArray[np.bool_],
    label_entropy: Float | None = None,
    kl_divergence: Float | None = None,
) -> SampleValues:
    """A batch of multi-class rows. Calibration sees the top-label confidence against
    correctness; with hard labels (no ``label_entropy``) KL is the cross-entropy."""
    correct = (predicted == true_class).astype(np.float64)
    return SampleValues(
        loss=loss,
        loss_weight=loss_weight,
        cross_entropy=cross_entropy,
        entropy=entropy,
        label_entropy=label_entropy,
        kl_divergence=cross_entropy if kl_divergence is None else kl_divergence,
        brier=brier,
        correct=correct,
        confidence=confidence,
        calib_conf=confidence,
        calib_hit=correct,
        clipped=clipped,
        predicted=predicted,
        true_class=true_class,
        true_prob=true_prob,
    )
