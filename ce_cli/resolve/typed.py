"""What a record batch becomes: typed NumPy arrays that know their input row numbers
(:class:`TypedBatch`, :class:`NumberBlock`, :class:`Rows`, :class:`Cell`), and the
:class:`Decision` (task, logits or probabilities) taken once per input."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, overload

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from ce_cli.core.workspace import Workspace

Float = NDArray[np.float64]


@dataclass(frozen=True)
class Decision:
    """The task and the input kind, fixed once per input from names and its first rows."""

    task: str
    logits: bool
    logits_reason: str
    soft_targets: bool
    one_hot_targets: bool = False
    # Binary from two prediction columns (scikit-learn's predict_proba): the column of class 1.
    positive: int | None = None


class Rows:
    """The 1-based input row numbers of a batch's rows, also after some rows were left out.

    ``rows + i`` is the input row number of the batch's ``i``-th (0-based) row, so error
    messages always name the row as the user counts it in the file.
    """

    def __init__(self, first: int, numbers: NDArray[np.int64] | None = None, offset: int = 0):
        self.first = first
        self.numbers = numbers
        self.offset = offset

    def __add__(self, index: int | np.integer) -> int:
        i = self.offset + int(index)
        return int(self.numbers[i]) if self.numbers is not None else self.first + i

    def slice(self, start: int) -> Rows:
        return Rows(self.first, self.numbers, self.offset + start)

    def array(self, start: int, stop: int) -> NDArray[np.int64]:
        if self.numbers is not None:
            return self.numbers[self.offset + start : self.offset + stop]
        return np.arange(self.first + self.offset + start, self.first + self.offset + stop)


@dataclass(frozen=True)
class Cell:
    """One value of a :class:`NumberBlock`: 0-based row and column, and the value."""

    row: int
    col: int
    value: float


class NumberBlock:
    """Rows × columns of numbers held as the input's own column arrays (no copy yet).

    :meth:`rows` stacks a slice of rows into one float64 matrix; done per chunk on the worker
    threads, the stacking (and the float32 → float64 widening) stays in cache and in parallel.
    """

    def __init__(
        self,
        columns: Sequence[NDArray[np.floating]] | None = None,
        matrix: NDArray[Any] | None = None,
    ) -> None:
        self.columns = list(columns) if columns is not None else None
        self.matrix = matrix
        if matrix is not None:
            self.n, self.width = int(matrix.shape[0]), int(matrix.shape[1])
        else:
            assert self.columns
            self.n, self.width = int(self.columns[0].shape[0]), len(self.columns)

    def first_where(self, outside: Callable[[NDArray[Any]], NDArray[np.bool_]]) -> Cell | None:
        """The first cell (in row-major order) where ``outside`` holds, or ``None``.

        Stacked columns are screened one column at a time, with no rows × columns copy: the
        decision window reads a million values this way.
        """
        if self.matrix is not None:
            mask = outside(self.matrix)
            if not mask.any():
                return None
            row, col = np.argwhere(mask)[0]
            return Cell(int(row), int(col), float(self.matrix[row, col]))
        assert self.columns is not None
        found: Cell | None = None
        for col, values in enumerate(self.columns):
            mask = outside(values[: found.row] if found is not None else values)
            if mask.any():
                row = int(np.argmax(mask))
                found = Cell(row, col, float(values[row]))
        return found

    def row_sums(self) -> Float:
        """``Σ_j x_ij`` per row, in float64 (column by column for stacked columns, in the same
        order as a column-major stack's ``sum(axis=1)``)."""
        if self.matrix is not None:
            return np.asarray(self.matrix.sum(axis=1, dtype=np.float64), dtype=np.float64)
        assert self.columns is not None
        total = np.array(self.columns[0], dtype=np.float64)
        for values in self.columns[1:]:
            total += values
        return total

    def in_place(self, float32: bool = False) -> bool:
        """Whether :meth:`rows` hands over views of the input, copying nothing."""
        if self.matrix is None:
            return False
        return self.matrix.dtype == np.float64 or (float32 and self.matrix.dtype == np.float32)

    @overload
    def rows(
        self,
        start: int = 0,
        stop: int | None = None,
        workspace: Workspace | None = None,
        float32: Literal[False] = False,
    ) -> Float: ...

    @overload
    def rows(
        self, start: int, stop: int | None, workspace: Workspace | None, float32: bool
    ) -> NDArray[np.floating]: ...

    def rows(
        self,
        start: int = 0,
        stop: int | None = None,
        workspace: Workspace | None = None,
        float32: bool = False,
    ) -> NDArray[np.floating]:
        """Rows ``start:stop`` as one float64 matrix: a view of a float64 input matrix, else
        a copy in ``workspace`` when one is given (valid until the workspace's next use) or a
        fresh array. With ``float32`` a float32 matrix is handed over as it is (for a kernel
        that widens as it reads, saving a copy). Nothing returned may be written to."""
        stop = self.n if stop is None else stop
        if self.matrix is not None:
            block = self.matrix[start:stop]
            if float32 and block.dtype == np.float32:
                return block
            if workspace is None or block.dtype == np.float64:
                return np.asarray(block, dtype=np.float64)
            out = workspace.matrix("rows", block.shape)
            np.copyto(out, block)
            return out
        assert self.columns is not None
        # Column-major: each column is one contiguous copy (row-major would write with a
        # stride of a whole row), and the kernel's row reductions vectorise across columns.
        shape = (self.width, stop - start)
        if workspace is None:
            stacked = np.empty(shape, dtype=np.float64)
        else:
            stacked = workspace.matrix("rows", shape)
        for j, column in enumerate(self.columns):
            stacked[j] = column[start:stop]
        return stacked.T


@dataclass(frozen=True)
class TypedBatch:
    """One batch: predictions (a :class:`NumberBlock`, checked per chunk by
    :meth:`Converter.predictions`), labels or targets, weights and ids (checked)."""

    predictions: NumberBlock
    labels: NDArray[np.int64] | None
    targets: Float | None
    weights: Float | None
    ids: pa.Array | None
    rows: Rows  # input row numbers (1-based) of the batch's rows
    groups: pa.Array | None = None
    ignored: int = 0  # rows left out by --ignore-label
    dropped: int = 0  # rows left out by --on-nan drop

    def __len__(self) -> int:
        return self.predictions.n
