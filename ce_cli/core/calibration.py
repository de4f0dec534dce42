r"""Calibration: equal-width confidence bins, and ECE / MCE from per-bin sums.

The bins are ``[k/B, (k+1)/B)`` for ``k < B - 1`` and ``[(B-1)/B, 1]`` for the last one: a value on
an edge goes to the upper bin and 1.0 to the last (torchmetrics' ``CalibrationError`` puts an exact
1.0 in a bin of its own; otherwise the two agree). State is three fixed-size arrays per binning —
total weight, summed confidence, summed outcome — so bins from any number of batches merge by ``+``.

.. math::

    \mathrm{ECE} = \sum_b \frac{n_b}{N} \left| \mathrm{acc}_b - \mathrm{conf}_b \right|, \qquad
    \mathrm{MCE} = \max_{b:\, n_b > 0} \left| \mathrm{acc}_b - \mathrm{conf}_b \right|
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

Float = NDArray[np.float64]
Int = NDArray[np.intp]


def bin_edges(n_bins: int) -> Float:
    """The ``n_bins + 1`` edges ``0, 1/B, …, 1``, each the double nearest ``k/B``.

    (``numpy.linspace`` computes ``k · (1/B)``, which can land one ulp above: 3 · 0.1 is
    0.30000000000000004, and a confidence of 0.3 — the double nearest 3/10 — would then fall
    below its own edge.)

    >>> bool(bin_edges(10)[3] == 0.3)
    True
    """
    return np.arange(n_bins + 1) / n_bins


def bin_index(confidence: Float, n_bins: int) -> Int:
    """Bin of each confidence in ``[0, 1]``: upper bin on an edge, 1.0 in the last bin.

    >>> bin_index(np.array([0.0, 0.1, 0.2, 0.5, 0.99, 1.0]), 5).tolist()
    [0, 0, 1, 2, 4, 4]
    """
    scaled = confidence * n_bins
    index = scaled.astype(np.intp)  # floor: the confidences are not negative
    np.clip(index, 0, n_bins - 1, out=index)
    # floor(x * B) can be one off only within rounding of an edge: the edges decide those.
    frac = scaled - index
    near = np.flatnonzero((frac < 1e-9) | (frac > 1.0 - 1e-9))
    if near.size:
        edges = bin_edges(n_bins)
        c, i = confidence[near], index[near]
        i -= c < edges[i]
        i += (c >= edges[i + 1]) & (i < n_bins - 1)
        index[near] = i
    return index


def indexed_sum(index: Int, values: Float | None, size: int) -> Float:
    """``Σ_{i: index_i = k} values_i`` for ``k < size`` (a count where ``values`` is ``None``),
    added in row order.

    The same sums, in the same order, as ``np.bincount(index, values, minlength=size)``, about a
    third faster (neither lets go of the GIL, so this time is not shared between threads).

    >>> indexed_sum(np.array([0, 2, 2]), np.array([0.5, 1.0, 2.0]), 3).tolist()
    [0.5, 0.0, 3.0]
    """
    out = np.zeros(size, dtype=np.float64)
    np.add.at(out, index, 1.0 if values is None else values)
    return out


def weighted_bin_sums(
    index: Int, confidence: Float, outcome: Float, weight: Float | None, n_bins: int
) -> tuple[Float, Float, Float]:
    """Per-bin (total weight, Σ weight·confidence, Σ weight·outcome) for precomputed bins."""

    if weight is None:
        return (
            indexed_sum(index, None, n_bins),
            indexed_sum(index, confidence, n_bins),
            indexed_sum(index, outcome, n_bins),
        )
    return (
        indexed_sum(index, weight, n_bins),
        indexed_sum(index, weight * confidence, n_bins),
        indexed_sum(index, weight * outcome, n_bins),
    )


def bin_sums(
    confidence: Float, outcome: Float, weight: Float | None, n_bins: int
) -> tuple[Float, Float, Float]:
    """Per-bin (total weight, Σ weight·confidence, Σ weight·outcome)."""
    return weighted_bin_sums(bin_index(confidence, n_bins), confidence, outcome, weight, n_bins)


def calibration_gaps(total: Float, conf: Float, hit: Float) -> Float:
    """``|acc_b - conf_b|`` per bin (0 for empty bins)."""
    gaps = np.zeros_like(total)
    filled = total > 0
    gaps[filled] = np.abs(hit[filled] - conf[filled]) / total[filled]
    return gaps


def ece_from_bins(total: Float, conf: Float, hit: Float) -> float:
    """Expected calibration error from per-bin sums (0 when every bin is empty)."""
    grand = float(total.sum())
    if grand <= 0:
        return 0.0
    return float(np.abs(hit - conf).sum() / grand)


def mce_from_bins(total: Float, conf: Float, hit: Float) -> float:
    """Maximum calibration error over non-empty bins."""
    gaps = calibration_gaps(total, conf, hit)
    filled = total > 0
    return float(gaps[filled].max()) if filled.any() else 0.0


def expected_calibration_error(
    confidence: NDArray[np.floating],
    outcome: NDArray[np.floating],
    n_bins: int = 15,
    sample_weight: NDArray[np.floating] | None = None,
) -> float:
    """ECE of confidences against outcomes (1 correct / positive, 0 not), ``n_bins`` equal bins.

    Bin [0.9, 1.0] holds 0.9, 0.9 (accuracy 1/2, gap 0.4); bin [0.6, 0.7) holds 0.6, 0.6
    (accuracy 1, gap 0.4), so ECE = (2/4)·0.4 + (2/4)·0.4:

    >>> conf, correct = np.array([0.9, 0.9, 0.6, 0.6]), np.array([1, 0, 1, 1])
    >>> round(expected_calibration_error(conf, correct, n_bins=10), 12)
    0.4
    """
    c = np.asarray(confidence, dtype=np.float64)
    o = np.asarray(outcome, dtype=np.float64)
    w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    return ece_from_bins(*bin_sums(c, o, w, n_bins))


def max_calibration_error(
    confidence: NDArray[np.floating],
    outcome: NDArray[np.floating],
    n_bins: int = 15,
    sample_weight: NDArray[np.floating] | None = None,
) -> float:
    """MCE: the largest ``|acc_b - conf_b|`` over non-empty bins.

    >>> max_calibration_error(np.array([0.9, 0.9, 0.6, 0.6]), np.array([1, 0, 1, 1]), 10)
    0.4
    """
    c = np.asarray(confidence, dtype=np.float64)
    o = np.asarray(outcome, dtype=np.float64)
    w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    return mce_from_bins(*bin_sums(c, o, w, n_bins))


# ----------------------------------------------------------------------------- more estimators
# Every estimator below reads the same per-bin sums (W_b, S_b = Σ s c, Y_b = Σ s o); the public
# array functions and the accumulator share them.


def rms_calibration_error_from_bins(total: Float, conf: Float, hit: Float) -> float:
    r"""RMSCE, ``sqrt(Σ_b (S_b − Y_b)² / W_b / W)`` (torchmetrics' l2 norm)."""
    grand = float(total.sum())
    if grand <= 0:
        return 0.0
    filled = total > 0
    gap = conf[filled] - hit[filled]
    return float(np.sqrt(np.sum(gap * gap / total[filled]) / grand))


def debiased_rms_calibration_error_from_bins(total: Float, conf: Float, hit: Float) -> float:
    r"""Kumar et al.'s (2019) debiased RMSCE: each bin of weight ``W_b ≥ 2`` adds
    ``(W_b/W)[((S_b − Y_b)/W_b)² − ȳ_b(1 − ȳ_b)/(W_b − 1)]``; the root of the sum, floored at 0."""
    grand = float(total.sum())
    if grand <= 0:
        return 0.0
    use = total >= 2
    w, gap = total[use], (conf[use] - hit[use]) / total[use]
    y = hit[use] / w
    square = float(np.sum(w / grand * (gap * gap - y * (1.0 - y) / (w - 1.0))))
    return float(np.sqrt(max(0.0, square)))


def overconfidence_from_bins(total: Float, conf: Float, hit: Float) -> float:
    """``Σ s (c − o) / W``: above 0 overconfident, below 0 underconfident."""
    grand = float(total.sum())
    return float((conf.sum() - hit.sum()) / grand) if grand > 0 else 0.0


def signed_gaps(total: Float, conf: Float, hit: Float) -> Float:
    """``conf_b − acc_b`` per bin (positive: overconfident; NaN for empty bins)."""
    gaps = np.full(total.shape, np.nan)
    filled = total > 0
    gaps[filled] = (conf[filled] - hit[filled]) / total[filled]
    return gaps


def rms_calibration_error(
    confidence: NDArray[np.floating],
    outcome: NDArray[np.floating],
    n_bins: int = 15,
    sample_weight: NDArray[np.floating] | None = None,
    *,
    debiased: bool = False,
) -> float:
    r"""RMS calibration error on ``n_bins`` equal-width bins (``debiased``: Kumar et al. 2019).

    .. math::

        \mathrm{RMSCE} = \sqrt{\textstyle\sum_b \frac{W_b}{W}(\bar c_b - \bar y_b)^2}

    Bin [0.9, 1.0] holds 0.9, 0.9 (gap 0.4), bin [0.6, 0.7) holds 0.6, 0.6 (gap 0.4):

    >>> conf, correct = np.array([0.9, 0.9, 0.6, 0.6]), np.array([1, 0, 1, 1])
    >>> round(rms_calibration_error(conf, correct, n_bins=10), 12)
    0.4
    """
    c = np.asarray(confidence, dtype=np.float64)
    o = np.asarray(outcome, dtype=np.float64)
    w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    sums = bin_sums(c, o, w, n_bins)
    if debiased:
        return debiased_rms_calibration_error_from_bins(*sums)
    return rms_calibration_error_from_bins(*sums)


# --------------------------------------------------------------------------- classwise view


def _scatter_add(target: Float, index: Int, values: Float | None) -> None:
    """``target[index] += values`` with repeated indices summed (1 each where ``values`` is
    ``None``): one ``bincount`` where the indices are many for the target's size (the classwise
    bins of a few classes, a whole batch's fine histogram), else ``np.add.at``, which costs
    nothing per untouched cell (a vocabulary's ``C × B`` cells, a few rows' histogram)."""
    if 4 * index.size >= target.size:
        target += np.bincount(index, values, minlength=target.size)
    else:
        np.add.at(target, index, 1.0 if values is None else values)


# ------------------------------------------------------------------------- equal-mass bins


# ------------------------------------------------------------------- fine confidence histogram


def probabilities(predictions: NDArray[np.floating], logits: bool) -> NDArray[np.floating]:
    """The rows' predicted distribution: softmax of logits (max-shifted), or the input as is."""
    if not logits:
        return predictions
    z = np.asarray(predictions, dtype=np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    e /= e.sum(axis=1, keepdims=True)
    return np.asarray(e)
