"""Every per-sample number of the report, for one batch of rows of one task.

:func:`evaluate_rows` is the single kernel behind the command, the Python API and the public
metric functions: it turns predictions and labels (or targets) into a :class:`SampleValues` of
float64 arrays in nats, which the accumulator sums. It reads no files and prints nothing.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ce_cli.core import information as info
from ce_cli.core.logprob import (
    log_bernoulli_probabilities,
    log_sigmoid,
)
from ce_cli.core.losses import (
    bernoulli_brier,
    bernoulli_loss,
)
from ce_cli.core.multiclass import _multiclass
from ce_cli.core.picks import Picks, ScaledPicks
from ce_cli.core.sample_values import (
    BINARY,
    MULTICLASS,
    MULTILABEL,
    Float,
    Int,
    LossSpec,
    SampleValues,
)
from ce_cli.core.workspace import Workspace


def evaluate_rows(
    predictions: NDArray[np.floating],
    spec: LossSpec,
    labels: Int | None = None,
    targets: NDArray[np.floating] | None = None,
    workspace: Workspace | None = None,
    picks: Picks | None = None,
    scaled_picks: ScaledPicks | None = None,
) -> SampleValues:
    """Per-sample values for ``predictions`` (rows × classes; one column, or 1-D, for binary).

    Give hard ``labels`` (class indices; 0/1 for binary) or ``targets`` (soft rows, multi-hot
    rows, or soft binary targets in [0, 1]). A ``workspace`` lends the scratch matrices, so a
    caller evaluating chunk after chunk allocates none of size rows × classes. ``picks``, the
    multi-class probabilities at or above some threshold (the classwise calibration view finds
    them anyway), give each row's argmax without a pass over the matrix. ``scaled_picks``
    (multi-class logits with hard labels) receives the classwise view's inputs from the
    kernel's exponentials, so that no softmax is taken a second time.
    """
    if spec.task == MULTICLASS:
        return _multiclass(
            np.asarray(predictions), spec, labels, targets, workspace, picks, scaled_picks
        )
    if spec.task == BINARY:
        q = np.asarray(predictions).reshape(-1)
        y = labels if labels is not None else targets
        assert y is not None
        return _binary(q, spec, np.asarray(y, dtype=np.float64).reshape(-1), labels is not None)
    if spec.task == MULTILABEL:
        assert targets is not None
        return _multilabel(np.asarray(predictions), spec, np.asarray(targets, dtype=np.float64))
    raise ValueError(f"unknown task {spec.task!r}")


def _bernoulli(predictions: NDArray[np.floating], spec: LossSpec):  # type: ignore[no-untyped-def]
    if spec.logits:
        return log_sigmoid(predictions)
    return log_bernoulli_probabilities(predictions, spec.eps)


def true_positive(y: NDArray[np.floating]) -> NDArray[np.bool_]:
    """Whether a binary or multi-label target counts as the positive outcome: ``y ≥ 1/2`` (a
    hard 1; a soft target of at least one half). The true class of a binary row, and what a
    label's prediction is right against.

    >>> true_positive(np.array([0.0, 0.49, 0.5, 1.0])).tolist()
    [False, False, True, True]
    """
    return np.asarray(y >= 0.5)


def _predicted_positive(predictions: NDArray[np.floating], spec: LossSpec) -> NDArray[np.bool_]:
    # σ(z) >= 0.5 exactly when z >= 0; comparing the logit avoids rounding in σ.
    return np.asarray(predictions >= (0.0 if spec.logits else 0.5))


def _binary(
    predictions: NDArray[np.floating], spec: LossSpec, y: Float, hard: bool
) -> SampleValues:
    lp = _bernoulli(predictions, spec)
    w_neg: float = 1.0
    w_pos: float = 1.0
    if spec.class_weights is not None:
        w_neg, w_pos = float(spec.class_weights[0]), float(spec.class_weights[1])
    cross_entropy = bernoulli_loss(lp.log_q, lp.log_not_q, y)
    if spec.loss == "ce" and spec.smoothing == 0.0 and spec.class_weights is None:
        loss = cross_entropy
    else:
        loss = bernoulli_loss(
            lp.log_q,
            lp.log_not_q,
            y,
            smoothing=spec.smoothing,
            gamma=spec.focal_gamma,
            alpha=spec.focal_alpha,
            weight_pos=w_pos,
            weight_neg=w_neg,
            q=lp.q,
            not_q=lp.not_q,
        )
    positive = _predicted_positive(predictions, spec)
    predicted = positive.astype(np.int64)
    true_class = true_positive(y).astype(np.int64)
    loss_weight = None
    if hard and spec.class_weights is not None:
        loss_weight = np.where(true_class == 1, w_pos, w_neg)
    label_entropy = None if hard else info.bernoulli_label_entropy(y)
    correct = (predicted == true_class).astype(np.float64)
    return SampleValues(
        loss=loss,
        loss_weight=loss_weight,
        cross_entropy=cross_entropy,
        entropy=info.bernoulli_entropy(lp),
        label_entropy=label_entropy,
        kl_divergence=cross_entropy if hard else info.bernoulli_kl(y, lp),
        brier=bernoulli_brier(lp.q, lp.not_q if spec.logits else None, y),
        correct=correct,
        confidence=np.where(positive, lp.q, lp.not_q),
        calib_conf=lp.q,
        calib_hit=y,
        calib_not_conf=lp.not_q,
        clipped=lp.clipped,
        predicted=predicted,
        true_class=true_class,
        true_prob=y * lp.q + (1.0 - y) * lp.not_q,
    )


def _multilabel(predictions: NDArray[np.floating], spec: LossSpec, y: Float) -> SampleValues:
    lp = _bernoulli(predictions, spec)
    label_ce = bernoulli_loss(lp.log_q, lp.log_not_q, y)
    if spec.loss == "ce" and spec.smoothing == 0.0 and spec.class_weights is None:
        label_loss = label_ce
    else:
        w: Float | float = 1.0 if spec.class_weights is None else spec.class_weights
        label_loss = bernoulli_loss(
            lp.log_q,
            lp.log_not_q,
            y,
            smoothing=spec.smoothing,
            gamma=spec.focal_gamma,
            alpha=spec.focal_alpha,
            weight_pos=w,
            weight_neg=w,
            q=lp.q,
            not_q=lp.not_q,
        )
    hard = bool(np.all((y == 0.0) | (y == 1.0)))
    cross_entropy = label_ce.sum(axis=1)
    positive = _predicted_positive(predictions, spec)
    y_positive = true_positive(y)
    label_correct = (positive == y_positive).astype(np.float64)
    correct = label_correct.mean(axis=1)
    label_entropy = None if hard else info.bernoulli_label_entropy(y).sum(axis=1)
    kl = cross_entropy if hard else info.bernoulli_kl(y, lp).sum(axis=1)
    return SampleValues(
        loss=label_loss.sum(axis=1),
        loss_weight=None,
        cross_entropy=cross_entropy,
        entropy=info.bernoulli_entropy(lp).sum(axis=1),
        label_entropy=label_entropy,
        kl_divergence=kl,
        brier=bernoulli_brier(lp.q, lp.not_q if spec.logits else None, y).sum(axis=1),
        correct=correct,
        confidence=np.maximum(lp.q, lp.not_q).mean(axis=1),
        calib_conf=lp.q,
        calib_hit=y,
        clipped=lp.clipped.any(axis=1),
        exact_match=(label_correct.min(axis=1) if label_correct.shape[1] else correct),
        label_loss=label_loss,
        label_ce=label_ce,
        label_correct=label_correct,
        label_q=lp.q,
        label_y=y,
        # Hard targets: y q + (1 − y)(1 − q) is q or 1 − q exactly (x · 1 + 0 = x).
        label_true_prob=(
            np.where(y_positive, lp.q, lp.not_q) if hard else y * lp.q + (1.0 - y) * lp.not_q
        ),
        label_predicted=positive.astype(np.float64),
    )
