"""Multi-label calibration events: every (row, label) pair is one event with confidence
``q_ij``, outcome ``y_ij`` and its row's weight, binned once for both views.

The top-label view of multi-label rows takes every event; the classwise view takes the same
events, split by label. One bin index per event and one ``bincount`` per sum over the cell
``label × B + bin`` give the classwise bins, and their label sums are the top-label bins.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ce_cli.core.calibration import bin_index
from ce_cli.core.classwise import ClasswiseSums
from ce_cli.core.classwise import _row_dots as row_dots

Float = NDArray[np.float64]
Int = NDArray[np.intp]


def label_events(
    q: NDArray[np.floating], y: NDArray[np.floating], weight: Float | None
) -> tuple[Float, Float, Float | None, bool]:
    """Multi-label events, one per (row, label): confidences ``q_ij``, outcomes ``y_ij`` and the
    row's weight, flattened in ``q``'s memory order without a copy where it can (label-major
    for stacked columns, row-major otherwise), and whether that order is label-major. Either
    way a label's events keep their row order."""
    n_labels = q.shape[1]
    by_label = bool(q.flags.f_contiguous and not q.flags.c_contiguous)
    if by_label:
        conf, hit = q.T.reshape(-1), np.asarray(y).T.reshape(-1)
    else:
        conf, hit = q.reshape(-1), np.asarray(y).reshape(-1)
    w = None
    if weight is not None:
        s = np.asarray(weight, dtype=np.float64)
        w = np.tile(s, n_labels) if by_label else np.repeat(s, n_labels)
    return (
        conf.astype(np.float64, copy=False),
        hit.astype(np.float64, copy=False),
        w,
        by_label,
    )


def label_bin_sums(
    q: NDArray[np.floating],
    y: NDArray[np.floating],
    weight: Float | None,
    n_bins: int,
    *,
    classwise: bool,
    hard: bool = False,
    events: tuple[Float, Float, Float | None, bool] | None = None,
) -> tuple[tuple[Float, Float, Float, Float], ClasswiseSums | None]:
    """Multi-label calibration events binned once: every (row, label) pair is an event with
    confidence ``q_ij``, outcome ``y_ij`` and the row's weight ``s_i``.

    Returns the top-label view's per-bin ``(W_b, S_b, Y_b, events_b)`` (events unweighted) and,
    with ``classwise``, the classwise view's ``(labels, bins)`` sums with Murphy's totals. The
    two views hold the same events (the classwise view splits them by label), so one bin index
    and one ``bincount`` per sum give both: the top-label bins are the label sums of the
    classwise ones. Each classwise cell adds its events in row order (as
    :func:`classwise_part` does where it bins every event), whatever the memory layout; a
    top-label bin is then the sum of its labels' sums (the same events, summed in another
    order: within rounding of a running sum). ``hard`` says every ``y`` is 0 or 1, whose
    ``Σ s y(1 − y)`` is 0 without a pass; ``events`` is :func:`label_events` of the same
    arguments, where the caller has it.

    >>> q, y = np.array([[0.9, 0.2], [0.6, 0.7]]), np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> (w, s, hit, events), sums = label_bin_sums(q, y, None, 2, classwise=True)
    >>> w.tolist(), hit.tolist(), sums.weight.tolist()
    ([1.0, 3.0], [0.0, 2.0], [[0.0, 2.0], [1.0, 1.0]])
    """
    n, n_labels = q.shape
    conf, hit, w, by_label = label_events(q, y, weight) if events is None else events
    index = bin_index(conf, n_bins)
    size = n_bins
    if classwise:
        offsets = np.arange(n_labels, dtype=np.intp) * n_bins
        if by_label:
            index.reshape(n_labels, n)[...] += offsets[:, None]
        else:
            index.reshape(n, n_labels)[...] += offsets
        size = n_labels * n_bins
    counts = _bincount(index, None, size)
    if w is None:
        total = counts
        conf_sum = _bincount(index, conf, size)
        hit_sum = _bincount(index, hit, size)
    else:
        total = _bincount(index, w, size)
        conf_sum = _bincount(index, w * conf, size)
        hit_sum = _bincount(index, w * hit, size)
    if not classwise:
        return (total, conf_sum, hit_sum, counts), None
    sums = ClasswiseSums(0, n_bins)
    sums.weight = total.reshape(n_labels, n_bins)
    sums.confidence = conf_sum.reshape(n_labels, n_bins)
    sums.outcome = hit_sum.reshape(n_labels, n_bins)
    s = None if weight is None else np.asarray(weight, dtype=np.float64)
    sums.square = float(row_dots(q, q, s))
    sums.cross = float(row_dots(q, y, s))
    sums.target_spread = 0.0 if hard else float(row_dots(y, 1.0 - y, s))
    top = (
        sums.weight.sum(axis=0),
        sums.confidence.sum(axis=0),
        sums.outcome.sum(axis=0),
        counts.reshape(n_labels, n_bins).sum(axis=0),
    )
    return top, sums


def _bincount(index: Int, values: Float | None, size: int) -> Float:
    """``Σ_{i: index_i = k} values_i`` (a count where ``values`` is ``None``), added in order."""
    return np.asarray(np.bincount(index, values, minlength=size), dtype=np.float64)
