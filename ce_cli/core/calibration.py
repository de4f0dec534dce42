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

from ce_cli.core.picks import Picks, classwise_threshold

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


class ClasswiseSums:
    """Per class k and equal-width bin b: ``W_kb``, ``S_kb = Σ s c``, ``Y_kb = Σ s o`` (shape
    ``(C, B)``), plus three totals over every classwise event that Murphy's within-bin terms
    need: ``square = Σ s c²``, ``cross = Σ s c o`` and ``target_spread = Σ s o(1 − o)`` (0 for
    hard targets). Merged by +."""

    __slots__ = ("confidence", "cross", "outcome", "square", "target_spread", "weight")

    def __init__(self, n_classes: int, n_bins: int) -> None:
        self.weight = np.zeros((n_classes, n_bins))
        self.confidence = np.zeros((n_classes, n_bins))
        self.outcome = np.zeros((n_classes, n_bins))
        self.square = 0.0
        self.cross = 0.0
        self.target_spread = 0.0

    def add(self, part: ClasswisePart) -> None:
        """Fold a batch's :class:`ClasswisePart` in (in place)."""
        part.fold(self.weight, self.confidence, self.outcome)
        self.square += part.square
        self.cross += part.cross
        self.target_spread += part.target_spread


class ClasswisePart:
    """One batch's classwise-view sums, kept sparse: the probabilities at or above ``1/B`` as
    (cell ``k·B + b``, weight, weighted confidence[, weighted outcome]) with ``b ≥ 1``; per class
    the totals that make the first bin by subtraction; with hard labels, each row's own
    (class, bin) for the outcome sums. Its size follows the batch, never ``C × B``: a vocabulary
    of 100,000 classes costs nothing per row it does not touch. :meth:`fold` adds it to dense
    ``(C, B)`` sums."""

    __slots__ = (
        "class_confidence",
        "class_outcome",
        "cross",
        "direct",
        "grand",
        "n_bins",
        "own_cell",
        "own_weight",
        "sel_cell",
        "sel_class",
        "sel_confidence",
        "sel_outcome",
        "sel_weight",
        "square",
        "target_spread",
    )

    def __init__(self, n_bins: int) -> None:
        self.n_bins = n_bins
        empty = np.empty(0)
        self.sel_cell: Int = np.empty(0, dtype=np.intp)
        self.sel_class: Int | None = None  # sel_cell // n_bins, where known
        self.sel_weight: Float | None = None  # None: every weight 1
        self.sel_confidence: Float = empty
        self.sel_outcome: Float | None = None  # soft / multi-hot targets only
        self.own_cell: Int | None = None  # hard labels only
        self.own_weight: Float | None = None
        self.grand = 0.0
        self.direct = False  # every probability binned one by one: no first bin by subtraction
        self.class_confidence: Float | None = None
        self.class_outcome: Float | None = None
        self.square = 0.0
        self.cross = 0.0
        self.target_spread = 0.0

    def fold(self, weight: Float, confidence: Float, outcome: Float) -> None:
        """Add these sums to dense ``(C, B)`` arrays, in place."""
        flat_w, flat_s, flat_y = weight.reshape(-1), confidence.reshape(-1), outcome.reshape(-1)
        sw = self.sel_weight  # None: each pick adds 1 (no array of ones)
        if self.direct:
            _scatter_add(flat_w, self.sel_cell, sw)
            _scatter_add(flat_s, self.sel_cell, self.sel_confidence)
            if self.own_cell is not None:
                _scatter_add(flat_y, self.own_cell, self.own_weight)
            else:
                assert self.sel_outcome is not None
                _scatter_add(flat_y, self.sel_cell, self.sel_outcome)
            return
        if self.class_confidence is None:
            return
        n_classes, cells = weight.shape[0], weight.size
        first_w: Float | float = self.grand
        first_s: Float = self.class_confidence
        if 4 * self.sel_cell.size >= cells:
            # Few cells for the picks: one bincount each, and the class totals of what went to
            # the bins above the first read from those (no second scatter).
            w_cells = np.bincount(self.sel_cell, sw, minlength=cells).reshape(weight.shape)
            s_cells = np.bincount(self.sel_cell, self.sel_confidence, minlength=cells)
            s_cells = s_cells.reshape(weight.shape)
            weight += w_cells
            confidence += s_cells
            first_w = first_w - w_cells.sum(axis=1)
            first_s = first_s - s_cells.sum(axis=1)
        else:
            cls = self.sel_cell // self.n_bins if self.sel_class is None else self.sel_class
            _scatter_add(flat_w, self.sel_cell, sw)
            _scatter_add(flat_s, self.sel_cell, self.sel_confidence)
            first_w = first_w - _class_sums(cls, sw, n_classes)
            first_s = first_s - _class_sums(cls, self.sel_confidence, n_classes)
        # The first bin: the class totals minus what went to the other bins.
        weight[:, 0] += first_w
        confidence[:, 0] += first_s
        if self.own_cell is not None:
            _scatter_add(flat_y, self.own_cell, self.own_weight)
        else:
            assert self.sel_outcome is not None and self.class_outcome is not None
            cls = self.sel_cell // self.n_bins if self.sel_class is None else self.sel_class
            _scatter_add(flat_y, self.sel_cell, self.sel_outcome)
            outcome[:, 0] += self.class_outcome - _class_sums(cls, self.sel_outcome, n_classes)


def _scatter_add(target: Float, index: Int, values: Float | None) -> None:
    """``target[index] += values`` with repeated indices summed (1 each where ``values`` is
    ``None``): one ``bincount`` where the indices are many for the target's size (the classwise
    bins of a few classes, a whole batch's fine histogram), else ``np.add.at``, which costs
    nothing per untouched cell (a vocabulary's ``C × B`` cells, a few rows' histogram)."""
    if 4 * index.size >= target.size:
        target += np.bincount(index, values, minlength=target.size)
    else:
        np.add.at(target, index, 1.0 if values is None else values)


def _class_sums(cls: Int, values: Float | None, n_classes: int) -> Float:
    """Per class, the sum of ``values`` (a count where ``None``) over the picks of that class."""
    out = np.zeros(n_classes)
    _scatter_add(out, cls, values)
    return out


def classwise_part(
    q: NDArray[np.floating] | None,
    weight: Float | None,
    n_bins: int,
    *,
    labels: NDArray[np.integer] | None = None,
    targets: NDArray[np.floating] | None = None,
    row_squares: Float | None = None,
    picks: Picks | None = None,
    true_prob: Float | None = None,
    class_totals: Float | None = None,
) -> ClasswisePart:
    """The classwise-view sums of an ``(n, C)`` matrix of probabilities ``q`` against hard
    ``labels`` (class indices) or ``targets`` (an ``(n, C)`` matrix of soft / multi-hot rows).

    Only the probabilities at or above the first edge ``1/B`` are binned one by one (at most B of
    a row, usually one or two); the first bin of each class is the class total minus the rest,
    so the cost is one comparison and one column sum over the matrix. With hard labels a row's
    outcome counts only for its own class, so the outcome sums come from the true-class
    probabilities alone. ``row_squares``, where the caller has them, are each row's
    ``Σ_k q_k²`` (it saves a pass); an empty array leaves ``square`` to the caller. ``picks``
    (``q``'s values at or above :func:`classwise_threshold`) and ``true_prob`` (each row's
    ``q`` at its label) may come from the kernel, which needs them too; with them,
    ``class_totals`` (``Σ_i w_i q_ij`` per class) and hard labels, ``q`` itself may be ``None``
    (:class:`ScaledPicks`).
    """
    if q is None:
        assert picks is not None and class_totals is not None and true_prob is not None
        n = picks.n
    else:
        n = q.shape[0]
    out = ClasswisePart(n_bins)
    if n == 0:
        return out
    s = None if weight is None else np.asarray(weight, dtype=np.float64)
    out.grand = float(n if s is None else s.sum())
    threshold = classwise_threshold(n_bins)
    if picks is None or picks.threshold != threshold:
        assert q is not None
        picks = Picks(q, threshold)
    # Where most probabilities lie above 1/B (few classes), the first bin is the smaller part:
    # bin everything one by one rather than take it as a difference of totals (which would
    # cost it digits, and make them depend on how the rows were batched).
    out.direct = picks.every
    # Rows are needed only to look up weights or targets (row-major: an integer division).
    need_rows = s is not None or labels is None
    rows = picks.rows if need_rows else picks.index
    cols, c = picks.cols, picks.values
    b = bin_index(c, n_bins)
    if n_bins == 1 and not out.direct:
        keep = b > 0  # nothing: the one bin is the first
        rows, cols, c, b = rows[keep], cols[keep], c[keep], b[keep]
    out.sel_cell = cols * n_bins + b
    out.sel_class = cols
    sw = None if s is None else s[rows]
    out.sel_weight = sw
    out.sel_confidence = c if sw is None else sw * c
    if not out.direct:
        if class_totals is not None:
            out.class_confidence = class_totals
        else:
            assert q is not None
            out.class_confidence = column_totals(q, s)
    if labels is not None:
        # Outcomes: a row counts only for its own class, at its true-class probability's bin.
        t = np.asarray(labels, dtype=np.intp)
        if true_prob is None:
            assert q is not None
            q_true = q[np.arange(n), t].astype(np.float64, copy=False)
        else:
            q_true = np.asarray(true_prob, dtype=np.float64)
        out.own_cell = (t * n_bins + bin_index(q_true, n_bins)).astype(np.intp)
        out.own_weight = s
        out.cross = float(q_true.sum() if s is None else np.einsum("i,i->", s, q_true))
    else:
        assert targets is not None and q is not None
        p = np.asarray(targets)
        o = p[rows, cols].astype(np.float64)
        out.sel_outcome = o if sw is None else sw * o
        if not out.direct:
            out.class_outcome = column_totals(p, s)
        out.cross = float(_row_dots(q, p, s))
        out.target_spread = float(_row_dots(p, 1.0 - p, s))
    if row_squares is None:
        assert q is not None
        out.square = float(_row_dots(q, q, s))
    elif row_squares.size:
        out.square = float(row_squares.sum() if s is None else np.einsum("i,i->", s, row_squares))
    return out


def classwise_sums(
    q: NDArray[np.floating],
    weight: Float | None,
    n_bins: int,
    *,
    labels: NDArray[np.integer] | None = None,
    targets: NDArray[np.floating] | None = None,
) -> ClasswiseSums:
    """Dense classwise-view bin sums of ``q`` (see :func:`classwise_part`).

    >>> s = classwise_sums(np.array([[0.9, 0.1], [0.3, 0.7]]), None, 2, labels=np.array([0, 0]))
    >>> s.weight.tolist(), s.outcome.tolist()
    ([[1.0, 1.0], [1.0, 1.0]], [[1.0, 1.0], [0.0, 0.0]])
    """
    out = ClasswiseSums(q.shape[1], n_bins)
    out.add(classwise_part(q, weight, n_bins, labels=labels, targets=targets))
    return out


def column_totals(matrix: NDArray[np.floating], s: Float | None) -> Float:
    """``Σ_i s_i m_ij`` per column ``j`` in float64 (``s`` of ``None``: every weight 1)."""
    if s is None:
        return np.asarray(matrix.sum(axis=0, dtype=np.float64), dtype=np.float64)
    return np.asarray(np.einsum("i,ij->j", s, matrix, dtype=np.float64), dtype=np.float64)


def _row_dots(a: NDArray[np.floating], b: NDArray[np.floating], s: Float | None) -> float:
    """``Σ_i s_i Σ_j a_ij b_ij`` in float64 (no BLAS: the last bits must not depend on threads)."""
    per_row = np.einsum("ij,ij->i", a, b, dtype=np.float64)
    return float(per_row.sum() if s is None else np.einsum("i,i->", s, per_row))


def classwise_eces(sums: ClasswiseSums) -> Float:
    """Each class's ECE on its own events: ``Σ_b |S_kb − Y_kb| / W_k`` (NaN for no weight)."""
    total = sums.weight.sum(axis=1)
    gap = np.abs(sums.confidence - sums.outcome).sum(axis=1)
    out = np.full(total.shape, np.nan)
    np.divide(gap, total, out=out, where=total > 0)
    return out


def murphy_decomposition(sums: ClasswiseSums) -> dict[str, float]:
    r"""Murphy's (1973) decomposition of the Brier score on the bins, summed over classes, with
    Stephenson et al.'s (2008) within-bin terms, so that

    .. math::

        \mathrm{brier} = \mathrm{REL} - \mathrm{RES} + \mathrm{UNC} + \mathrm{WBV} + \mathrm{WBC}
            + \mathrm{TV}

    exactly, where ``TV = −Σ s o(1 − o) / W`` is the targets' own spread (0 for hard targets).

    >>> s = classwise_sums(np.array([[0.8], [0.8]]), None, 10, targets=np.array([[1.0], [0.0]]))
    >>> parts = murphy_decomposition(s)  # Brier (0.04 + 0.64) / 2 = 0.34 = 0.09 + 0.25
    >>> round(parts["reliability"], 12), round(parts["uncertainty"], 12)
    (0.09, 0.25)
    """
    w = sums.weight
    grand = float(w[0].sum()) if w.size else 0.0
    if grand <= 0:
        return dict.fromkeys(
            (
                "reliability",
                "resolution",
                "uncertainty",
                "within_bin_variance",
                "within_bin_covariance",
                "target_variance",
            ),
            0.0,
        )
    filled = w > 0
    wf, sf, yf = w[filled], sums.confidence[filled], sums.outcome[filled]
    gap = sf - yf
    reliability = float(np.sum(gap * gap / wf)) / grand
    y_class = sums.outcome.sum(axis=1) / sums.weight.sum(axis=1)
    class_of_bin = np.broadcast_to(y_class[:, None], w.shape)[filled]
    spread = yf / wf - class_of_bin
    resolution = float(np.sum(wf * spread * spread)) / grand
    uncertainty = float(np.sum(y_class * (1.0 - y_class)))
    variance = (sums.square - float(np.sum(sf * sf / wf))) / grand
    covariance = -2.0 * (sums.cross - float(np.sum(sf * yf / wf))) / grand
    target = 0.0 - sums.target_spread / grand
    return {
        "reliability": reliability,
        "resolution": resolution,
        "uncertainty": uncertainty,
        "within_bin_variance": variance,
        "within_bin_covariance": covariance,
        "target_variance": target,
    }


# ------------------------------------------------------------------------- equal-mass bins


def equal_mass_targets(total: float, n_bins: int) -> Float:
    """Where parts 1 … B−1 end, in cumulative weight, as ``numpy.array_split`` splits ``total``
    events into ``B`` parts (the first ``total mod B`` one longer); a fractional total is cut
    at ``k·total/B``."""
    rounded = round(total)
    if abs(total - rounded) <= 1e-9 * max(1.0, total) and rounded >= 1:
        n_bins = min(n_bins, rounded)
        k = np.arange(1, n_bins)
        return np.asarray(k * (rounded // n_bins) + np.minimum(k, rounded % n_bins), np.float64)
    return np.asarray(np.arange(1, n_bins) * (total / n_bins), dtype=np.float64)


def adaptive_bins(
    confidence: NDArray[np.floating],
    outcome: NDArray[np.floating],
    n_bins: int = 15,
    sample_weight: NDArray[np.floating] | None = None,
) -> tuple[Float, Float, Float, Float]:
    """Equal-mass bins from the sorted events: (boundaries, W_b, S_b, Y_b).

    Parts as ``numpy.array_split`` cuts the sorted confidences (a weight counts as that many
    repeated events); a boundary is the midpoint of the last confidence of one part and the first
    of the next; ``c ≤ boundary`` goes to the lower bin (``uncertainty-calibration``'s
    ``get_equal_bins``). Duplicate boundaries leave an empty bin, which adds nothing.
    """
    c = np.asarray(confidence, dtype=np.float64)
    o = np.asarray(outcome, dtype=np.float64)
    s = np.ones_like(c) if sample_weight is None else np.asarray(sample_weight, np.float64)
    order = np.argsort(c, kind="stable")
    c, o, s = c[order], o[order], s[order]
    ends = np.cumsum(s)
    targets = equal_mass_targets(float(ends[-1]), n_bins) if len(c) else np.empty(0)
    last = np.minimum(np.searchsorted(ends, targets, side="left"), len(c) - 1)
    first = np.minimum(np.searchsorted(ends, targets, side="right"), len(c) - 1)
    bounds = (c[last] + c[first]) / 2.0
    index = np.searchsorted(bounds, c, side="left")
    size = len(bounds) + 1
    return (
        bounds,
        indexed_sum(index, s, size),
        indexed_sum(index, s * c, size),
        indexed_sum(index, s * o, size),
    )


def adaptive_calibration_error(
    confidence: NDArray[np.floating],
    outcome: NDArray[np.floating],
    n_bins: int = 15,
    sample_weight: NDArray[np.floating] | None = None,
) -> float:
    """ECE on equal-mass bins (``uncertainty-calibration``'s ``get_ece_em``), from sorted events.

    Four events, two bins: the boundary is (0.6 + 0.8)/2; gaps |0.5 − 0.5| and |0.9 − 0.5|:

    >>> round(adaptive_calibration_error(np.array([0.4, 0.6, 0.8, 1.0]), np.array([0, 1, 1, 0]),
    ...                                  n_bins=2), 12)
    0.2
    """
    _, w, conf, hit = adaptive_bins(confidence, outcome, n_bins, sample_weight)
    return ece_from_bins(w, conf, hit)


# ------------------------------------------------------------------- fine confidence histogram

FINE_CELLS = 1 << 16
"""Cells of the fine histogram over (0, 1); exactly 0 and exactly 1 get a cell each besides."""


def fine_cell_index(confidence: Float) -> Int:
    """Cell of each confidence: 0 for exactly 0, ``floor(c·2^16) + 1`` inside, ``2^16 + 1`` for 1.

    >>> fine_cell_index(np.array([0.0, 1e-9, 0.5, 1.0 - 1e-12, 1.0])).tolist()
    [0, 1, 32769, 65536, 65537]
    """
    index = (confidence * FINE_CELLS).astype(np.intp)  # exact: 2^16 is a power of two
    index += confidence > 0
    return index


FINE_SIZE = FINE_CELLS + 2


def fine_histogram_update(
    hist: tuple[Float, Float, Float, Float, Float],
    confidence: Float,
    outcome: Float,
    weight: Float | None,
) -> None:
    """Fold events into a fine histogram ``(W, S, Y, low, high)`` of :data:`FINE_SIZE` cells, in
    place: sums per cell, and each cell's smallest and largest confidence."""
    total, conf_sum, hit_sum, low, high = hist
    index = fine_cell_index(confidence)
    weighted = (confidence, outcome) if weight is None else (weight * confidence, weight * outcome)
    _scatter_add(total, index, weight)
    _scatter_add(conf_sum, index, weighted[0])
    _scatter_add(hit_sum, index, weighted[1])
    np.minimum.at(low, index, confidence)
    np.maximum.at(high, index, confidence)


def fine_cell_means(total: Float, conf: Float, hit: Float) -> tuple[Float, Float, Float]:
    """Non-empty cells as (mean confidence, weight, Σ s (c − o)): the events for smoothing."""
    filled = total > 0
    w = total[filled]
    return conf[filled] / w, w, conf[filled] - hit[filled]


def fine_equal_mass_bins(
    total: Float, conf: Float, hit: Float, low: Float, high: Float, n_bins: int
) -> tuple[Float, Float, Float, Float]:
    """(boundaries, W_b, S_b, Y_b) of the equal-mass bins, read from a fine histogram.

    A cut that falls inside a cell takes the cell's share of weight and outcome in proportion,
    and its share of confidence as if the cell's events were spread evenly between its minimum
    and maximum; a cell whose minimum equals its maximum holds one tied value and goes to the
    lower bin whole, as ``c ≤ boundary`` puts it. Within the contract's resolution of the
    sort-based :func:`adaptive_bins` (2e-4 on ECE without heavy ties).
    """
    ends = np.cumsum(total)
    grand = float(ends[-1])
    if grand <= 0:
        return np.empty(0), np.zeros(1), np.zeros(1), np.zeros(1)
    targets = equal_mass_targets(grand, n_bins)
    cell = np.minimum(np.searchsorted(ends, targets, side="left"), len(total) - 1)
    wc = total[cell]
    before = ends[cell] - wc
    frac = np.clip((targets - before) / np.where(wc > 0, wc, 1.0), 0.0, 1.0)
    lo, hi = low[cell], high[cell]
    tied = ~(hi > lo)
    frac[tied] = 1.0
    spread = np.where(tied, 0.0, hi - lo)
    conf_ends, hit_ends = np.cumsum(conf), np.cumsum(hit)
    cut_w = before + frac * wc
    cut_s = conf_ends[cell] - conf[cell] + frac * conf[cell] - frac * (1 - frac) * wc * spread / 2
    cut_y = hit_ends[cell] - hit[cell] + frac * hit[cell]
    # The boundary: inside the cell where a cut splits one, else halfway to the next filled cell.
    following = np.append(np.minimum.accumulate(low[::-1])[::-1][1:], np.inf)[cell]
    bounds = np.where(frac < 1.0, lo + frac * spread, (hi + np.minimum(following, 1.0)) / 2)

    def parts(cut: Float, last: float) -> Float:
        return np.diff(np.concatenate(([0.0], cut, [last])))

    return (
        bounds,
        np.maximum(parts(cut_w, grand), 0.0),
        parts(cut_s, float(conf_ends[-1])),
        parts(cut_y, float(hit_ends[-1])),
    )


def probabilities(predictions: NDArray[np.floating], logits: bool) -> NDArray[np.floating]:
    """The rows' predicted distribution: softmax of logits (max-shifted), or the input as is."""
    if not logits:
        return predictions
    z = np.asarray(predictions, dtype=np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    e /= e.sum(axis=1, keepdims=True)
    return np.asarray(e)
