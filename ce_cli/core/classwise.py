"""Classwise calibration from one pass: per-class sums (:class:`ClasswiseSums`, merged by
addition), the classwise ECE, and Murphy's decomposition of the Brier score into reliability,
resolution and uncertainty (with Stephenson's within-bin terms)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ce_cli.core.calibration import Float, Int, _scatter_add, bin_index
from ce_cli.core.picks import Picks, classwise_threshold


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
