"""What the per-sample kernel is asked and what it returns: the task names, :class:`LossSpec`
(task, input kind, loss and its modifiers) and :class:`SampleValues` (every per-row number of a
batch, in nats), with their concatenation and row selection."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from numpy.typing import NDArray

Float = NDArray[np.float64]


Int = NDArray[np.int64]


BINARY, MULTICLASS, MULTILABEL = "binary", "multiclass", "multilabel"


@dataclass(frozen=True)
class LossSpec:
    """What to compute: the task, the input kind and the loss variant with its modifiers."""

    task: str
    logits: bool
    loss: str = "ce"
    gamma: float = 2.0
    alpha: float | None = None
    smoothing: float = 0.0
    class_weights: Float | None = None
    eps: float = float(np.finfo(np.float64).eps)

    @property
    def focal_gamma(self) -> float:
        return self.gamma if self.loss == "focal" else 0.0

    @property
    def focal_alpha(self) -> float | None:
        return self.alpha if self.loss == "focal" else None


@dataclass(frozen=True)
class SampleValues:
    """Per-row values (nats). ``label_*`` arrays are (rows, labels) and exist for multi-label only.

    ``loss_weight`` is each row's share of the loss mean's denominator (``w_{t_i}`` with class
    weights and hard labels; ``None`` means 1). ``calib_conf`` / ``calib_hit`` are what the
    calibration bins see: top-label confidence and correctness (multi-class), ``q`` and ``y``
    (binary), or every label's ``q`` and ``y`` (multi-label). ``label_true_prob`` (``y q +
    (1 - y)(1 - q)`` with the accurate complement) and ``label_predicted`` (1 where ``z ≥ 0``, or
    ``q ≥ 1/2``) are each label's, so that nothing downstream re-derives them from ``q``.
    ``calib_not_conf`` (binary) is ``1 − q`` as the core computes it (``σ(−z)`` from logits), the
    class-0 probability of the classwise view.
    """

    loss: Float
    loss_weight: Float | None
    cross_entropy: Float
    entropy: Float
    label_entropy: Float | None
    kl_divergence: Float
    brier: Float
    correct: Float
    confidence: Float
    calib_conf: Float
    calib_hit: Float
    clipped: NDArray[np.bool_]
    predicted: Int | None = None
    true_class: Int | None = None
    true_prob: Float | None = None
    exact_match: Float | None = None
    label_loss: Float | None = None
    label_ce: Float | None = None
    label_correct: Float | None = None
    label_q: Float | None = None
    label_y: Float | None = None
    label_true_prob: Float | None = None
    label_predicted: Float | None = None
    calib_not_conf: Float | None = None


def concat_values(parts: list[SampleValues]) -> SampleValues:
    """Rows of several :class:`SampleValues` (in order) as one.

    Fields that are one array in every part (``cross_entropy`` is ``loss`` for plain
    cross-entropy, ``calib_conf`` is ``confidence`` for multi-class) are joined once and stay
    one array, so the accumulator can tell.
    """
    if len(parts) == 1:
        return parts[0]
    joined: dict[str, object] = {}
    done: dict[tuple[int, ...], object] = {}
    for f in fields(SampleValues):
        arrays = [getattr(p, f.name) for p in parts]
        if arrays[0] is None:
            joined[f.name] = None
            continue
        key = tuple(id(a) for a in arrays)
        if key not in done:
            done[key] = np.concatenate(arrays, axis=0)
        joined[f.name] = done[key]
    return SampleValues(**joined)  # type: ignore[arg-type]


def take_rows(values: SampleValues, rows: NDArray[np.intp]) -> SampleValues:
    """The given rows of a :class:`SampleValues`."""
    picked = {}
    for f in fields(SampleValues):
        array = getattr(values, f.name)
        picked[f.name] = None if array is None else array[rows]
    return SampleValues(**picked)  # type: ignore[arg-type]
