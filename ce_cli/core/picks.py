"""The classwise calibration view's picks: the probabilities at or above the first bin edge
``1/B`` of a rows × classes matrix, found once per chunk and shared with the kernel.

Most probabilities of a many-class row lie in the first bin, so the classwise bins take that bin
as a class total minus the rest and bin only the picks one by one. Finding them is a comparison
and a ``nonzero`` over the matrix: :func:`sparse_flatnonzero` does the latter about 1.7 times as
fast where few values reach the edge, :meth:`Picks.row_argmax` gives the kernel each row's
argmax from them (a column-major ``np.argmax`` copies the matrix), and :class:`ScaledPicks`
takes them from a softmax kernel's exponentials, so that no second softmax is taken.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

Float = NDArray[np.float64]
Int = NDArray[np.intp]


def classwise_threshold(n_bins: int) -> float:
    """Where the classwise view starts binning one by one: the first edge ``1/B`` itself
    (``bin_index`` puts a probability above the first bin exactly when it is at or above this
    double, so what is picked needs no second look). One bin has no edge inside: a threshold a
    little below 1 keeps the old split there."""
    return 1.0 / n_bins if n_bins > 1 else 1.0 - 1e-6  # bin_edges(n_bins)[1], the same double


def sparse_flatnonzero(mask: NDArray[np.bool_]) -> Int:
    """``np.flatnonzero(mask)`` for a 1-D mask, about 1.7 times as fast where 3 % are set.

    NumPy's ``nonzero`` tests every flag; here the flags are packed eight to a byte first, the
    non-zero bytes found, and only their bits unpacked and searched.

    >>> sparse_flatnonzero(np.array([0, 0, 1, 0, 0, 0, 0, 0, 0, 1], dtype=bool)).tolist()
    [2, 9]
    """
    packed = np.packbits(mask, bitorder="little")
    hit = np.flatnonzero(packed != 0)
    bits = np.unpackbits(packed[hit], bitorder="little").view(np.bool_)  # 0/1 bytes
    found = np.flatnonzero(bits)
    return np.asarray(hit[found >> 3] * 8 + (found & 7), dtype=np.intp)


def _nonzero(mask: NDArray[np.bool_], count: int | None = None) -> Int:
    """``np.flatnonzero`` of a 1-D mask (``count`` flags set, where known), by
    :func:`sparse_flatnonzero` where few flags are set."""
    if 16 * (int(np.count_nonzero(mask)) if count is None else count) < mask.size:
        return sparse_flatnonzero(mask)
    return np.asarray(np.flatnonzero(mask), dtype=np.intp)


class Picks:
    """The values of an ``(n, C)`` probability matrix at or above a threshold, one entry per
    value, in memory order (class by class for a column-major matrix, else row by row):
    each one's class ``cols``, its row ``rows`` and its value ``values`` (float64). ``every``:
    more than half the values reach the threshold, and every value is listed (a few classes).
    """

    __slots__ = ("_rows", "by_class", "cols", "every", "index", "n", "threshold", "values", "width")

    def __init__(self, q: NDArray[np.floating], threshold: float) -> None:
        n, width = q.shape
        self.n, self.width, self.threshold = n, width, threshold
        # Columns stacked side by side (column-major): read in place, class by class.
        self.by_class = bool(q.flags.f_contiguous and not q.flags.c_contiguous)
        flat = q.T.reshape(-1) if self.by_class else q.reshape(-1)
        mask = flat >= np.float64(threshold)  # in float64 whatever q's type
        count = int(np.count_nonzero(mask))
        self.every = 2 * count > flat.size
        index = np.arange(flat.size) if self.every else _nonzero(mask, count)
        self.index: Int = index
        self._rows: Int | None = None
        if self.by_class:
            # Sorted by class: each class's run starts where its first value would; no division.
            starts = np.searchsorted(index, np.arange(width + 1) * n)
            self.cols: Int = np.repeat(np.arange(width), np.diff(starts))
            self._rows = index - self.cols * n
        else:
            self.cols = index % width if width else index
        self.values: Float = np.asarray(flat[index], dtype=np.float64)

    @classmethod
    def of(cls, n: int, width: int, threshold: float, rows: Int, cols: Int, values: Float) -> Picks:
        """Picks found by someone else (a kernel holding ``q`` as ``e / s``), in any order."""
        out = cls.__new__(cls)
        out.n, out.width, out.threshold = n, width, threshold
        out.by_class, out.every = False, False
        out.index, out._rows, out.cols, out.values = rows, rows, cols, values
        return out

    @property
    def rows(self) -> Int:
        """Each value's row (row-major: an integer division, made on first use)."""
        if self._rows is None:
            self._rows = np.asarray(self.index // self.width, dtype=np.intp)
        return self._rows

    def row_argmax(self) -> tuple[Int, Float, NDArray[np.bool_]]:
        """Each row's first argmax and its maximum, read from the picks alone, and which rows
        hold no pick (their two entries are meaningless: the caller finds those itself).

        A row's maximum is at or above the threshold whenever any of its values is, so it is
        among the row's picks; of the picks equal to it, the one of the lowest class is the
        first argmax, as ``np.argmax`` gives.
        """
        rows, cols, values = self.rows, self.cols, self.values
        top = np.full(self.n, -np.inf)
        np.maximum.at(top, rows, values)
        at_top = values == top[rows]
        first = np.full(self.n, self.width, dtype=np.intp)
        np.minimum.at(first, rows[at_top], cols[at_top])
        return first, top, first == self.width


class ScaledPicks:
    """The classwise view's inputs for ``n`` rows, gathered block by block: the values with
    ``q ≥ threshold`` and the per-class totals ``Σ_i w_i q_ij``. From a kernel that holds each
    row's probabilities as ``q_ij = e_ij / s_i`` (a softmax's exponentials and their sum, in
    any shift of the row), :meth:`add` finds them without forming ``q`` (which is then the
    kernel's own ``e / s``, the number its top-label confidence and true-class probability
    are); :meth:`take` adds those of given probabilities.
    """

    def __init__(self, n: int, width: int, threshold: float, weight: Float | None) -> None:
        self.n, self.width, self.threshold = n, width, threshold
        self.weight = weight
        self.offset = 0  # where the rows handed to add() start, in this object's rows
        self.totals = np.zeros(width)
        self._rows: list[Int] = []
        self._cols: list[Int] = []
        self._values: list[Float] = []

    def add(
        self,
        start: int,
        e: Float,
        total: Float,
        held: Sequence[tuple[Int, Int, Float]] = (),
    ) -> None:
        """Rows ``start : start + len(e)``: ``e`` (rows × classes, any memory order; entries
        held out of it are 0) and each row's sum ``total`` of all its exponentials; ``held``
        are entries kept out of ``e``, as (row within the block, class, ``q``)."""
        n = e.shape[0]
        start += self.offset
        with np.errstate(divide="ignore"):
            inverse = 1.0 / total
        w = None if self.weight is None else self.weight[start : start + n]
        # A superset first (e ≥ threshold · s, less a margin far above rounding), then exactly
        # q = e / s ≥ threshold, so the picks are the values bin_index puts above the first bin.
        cut = self.threshold * total * (1.0 - 2.0**-40)
        by_class = bool(e.flags.f_contiguous and not e.flags.c_contiguous)
        mask = e >= cut[:, None]
        if by_class:  # class by class, in place; each class's run found without a division
            flat = e.T.reshape(-1)
            index = _nonzero(mask.T.reshape(-1))
            starts = np.searchsorted(index, np.arange(self.width + 1) * n)
            cols = np.repeat(np.arange(self.width), np.diff(starts))
            rows = index - cols * n
        else:
            flat = e.reshape(-1)
            index = _nonzero(mask.reshape(-1))
            rows = index // max(self.width, 1)
            cols = index - rows * self.width
        q = flat[index] / total[rows]
        keep = q >= self.threshold
        if not keep.all():  # the margin's few
            rows, cols, q = rows[keep], cols[keep], q[keep]
        scale = inverse if w is None else w * inverse
        self.totals += np.einsum("i,ij->j", scale, e)
        self._rows.append(rows + start)
        self._cols.append(cols)
        self._values.append(q)
        for r, c, v in held:
            self.totals += np.bincount(c, v if w is None else w[r] * v, minlength=self.width)
            up = np.flatnonzero(v >= self.threshold)
            self._rows.append(r[up] + start)
            self._cols.append(c[up])
            self._values.append(v[up])

    def take(self, picks: Picks, totals: Float | None, offset: int) -> None:
        """Picks of probabilities given as they are (``Picks`` of rows ``offset`` on) and their
        rows' class totals ``Σ_i w_i q_ij``. (Picks that list ``every`` value are a superset,
        which the first bin's subtraction takes as well.)"""
        assert totals is not None
        self._rows.append(picks.rows + offset)
        self._cols.append(picks.cols)
        self._values.append(picks.values)
        self.totals += totals

    def picks(self) -> Picks:
        """What was gathered, as :class:`Picks`."""
        return Picks.of(
            self.n,
            self.width,
            self.threshold,
            _joined(self._rows, np.intp),
            _joined(self._cols, np.intp),
            _joined(self._values, np.float64),
        )


def _joined(parts: Sequence[NDArray[Any]], dtype: type) -> NDArray[Any]:
    return np.concatenate(parts) if parts else np.empty(0, dtype=dtype)
