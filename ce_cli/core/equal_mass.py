"""Equal-mass (adaptive) calibration bins: from sorted confidences (adaptive ECE), and from the
fine confidence histogram a stream fills in one pass (2^16 cells, merged by addition)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ce_cli.core.calibration import Float, Int, _scatter_add, ece_from_bins, indexed_sum


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
