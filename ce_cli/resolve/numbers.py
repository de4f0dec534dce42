"""Reading the numbers of a batch: prediction, target and weight columns (wide, or one list
column) as float matrices, every value checked (non-numeric, missing, NaN/inf, out of range, rows
not summing to 1), with the file, column, 1-based row and value named on failure."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from ce_cli.core.workspace import Workspace
from ce_cli.errors import (
    NonFiniteError,
    NonNumericError,
    ProbabilityRangeError,
    RowSumError,
    WeightError,
)
from ce_cli.resolve.arrow import _first_null
from ce_cli.resolve.columns import ColumnPlan
from ce_cli.resolve.typed import Decision, Float, NumberBlock, Rows, TypedBatch
from ce_cli.settings import Settings, Task

SUM_TOLERANCE = 1e-3


class NumberReader:
    """The columns' numbers as checked float arrays, for one plan (and, once taken, its decision).

    The base of :class:`~ce_cli.resolve.converter.Converter`, which adds labels and the decision.
    """

    def __init__(self, plan: ColumnPlan, settings: Settings, file: str) -> None:
        self.plan = plan
        self.settings = settings
        self.file = file
        self.decision: Decision | None = None
        self.classes: tuple[str, ...] = plan.classes
        # Prediction columns a row has (1 for binary, whose classes are nonetheless "0", "1").
        self.width = len(plan.classes)
        self._label_lookup: dict[str, int] | None = None
        self._int_label_map: NDArray[np.int64] | None = None

    def _block(
        self,
        batch: pa.RecordBatch,
        columns: Sequence[str],
        list_column: str | None,
        first_row: Rows,
        what: str,
    ) -> NumberBlock:
        if list_column is not None:
            return NumberBlock(matrix=self._list_matrix(batch, list_column, first_row))
        return NumberBlock(
            columns=[self._numeric(batch.column(n), n, first_row, what) for n in columns]
        )

    def _numeric(
        self, array: pa.Array, name: str, first_row: Rows, what: str
    ) -> NDArray[np.floating]:
        if isinstance(array, pa.ChunkedArray):
            array = array.combine_chunks()
        t = array.type
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            import pyarrow.compute as pc  # ~25 ms to import: only where used

            try:
                array = pc.cast(array, pa.float64())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                values = array.to_numpy(zero_copy_only=False)
                for row, value in enumerate(values):
                    try:
                        float(value)
                    except (TypeError, ValueError):
                        raise NonNumericError(
                            f"{what} is not a number",
                            file=self.file,
                            column=name,
                            row=first_row + row,
                            value=value,
                        ) from None
                raise
            t = array.type
        if array.null_count:
            row = _first_null(array)
            raise NonFiniteError(
                f"missing {what} (empty or NaN)",
                file=self.file,
                column=name,
                row=first_row + row,
                hint="fill or drop the row",
            )
        if pa.types.is_decimal(t) or pa.types.is_boolean(t) or pa.types.is_float16(t):
            array = array.cast(pa.float64())
        values = np.asarray(array.to_numpy(zero_copy_only=False))
        if values.dtype.kind != "f":
            values = values.astype(np.float64)
        return values

    def _list_matrix(
        self, batch: pa.RecordBatch, name: str, first_row: Rows
    ) -> NDArray[np.floating]:
        import pyarrow.compute as pc  # ~25 ms to import: only where used

        array = batch.column(name)
        if array.null_count:
            raise NonFiniteError(
                "missing list", file=self.file, column=name, row=first_row + _first_null(array)
            )
        if pa.types.is_fixed_size_list(array.type):
            width = array.type.list_size
        elif len(array) == 0:  # every row of the batch left out (a run of padding tokens)
            width = self.width
        else:
            lengths = np.asarray(pc.list_value_length(array).to_numpy(zero_copy_only=False))
            width = int(lengths[0]) if len(lengths) else 0
            ragged = lengths != width
            if self.width and width != self.width:
                ragged = lengths != self.width
            if ragged.any():
                row = int(np.argmax(ragged))
                raise NonNumericError(
                    "list rows have different lengths",
                    file=self.file,
                    column=name,
                    row=first_row + row,
                    value=int(lengths[row]),
                    hint=f"every row needs {self.width or width} values",
                )
        flat = array.flatten()
        if flat.null_count:
            index = _first_null(flat)
            raise NonFiniteError(
                "missing value inside a list",
                file=self.file,
                column=name,
                row=first_row + index // max(width, 1),
            )
        if width == 0 and len(array):
            raise NonNumericError(
                "the list column holds empty lists, so there are no predictions",
                file=self.file,
                column=name,
                row=first_row + 0,
                hint="each row needs one value per class (or name the columns with --prob-cols)",
            )
        values = np.asarray(flat.to_numpy(zero_copy_only=False))
        if values.dtype.kind != "f":
            values = values.astype(np.float64)
        if self.width and width != self.width:
            raise NonNumericError(
                f"list rows have {width} values but earlier rows had {self.width}",
                file=self.file,
                column=name,
                row=first_row + 0,
            )
        return values.reshape(len(array), width)

    def _check_finite(
        self,
        values: NDArray[np.floating] | NumberBlock,
        columns: Sequence[str],
        first_row: Rows,
        what: str,
    ) -> None:
        """The first value that is NaN or infinite (in row-major order) is an error naming it."""
        block = values if isinstance(values, NumberBlock) else NumberBlock(matrix=values)
        bad = block.first_where(lambda x: ~np.isfinite(x))
        if bad is not None:
            raise NonFiniteError(
                f"{what} is not finite",
                file=self.file,
                column=columns[bad.col] if len(columns) > bad.col else None,
                row=first_row + bad.row,
                value=bad.value,
                hint="fill or drop the row",
            )

    def _predictions(self, batch: pa.RecordBatch, first_row: Rows) -> NumberBlock:
        """All predictions of a batch, checked finite (used for the decision window)."""
        plan = self.plan
        block = self._block(batch, plan.predictions, plan.prediction_list, first_row, "prediction")
        self._check_finite(block, self._prediction_names(block.width), first_row, "prediction")
        return block

    def predictions(
        self, typed: TypedBatch, start: int, stop: int, workspace: Workspace | None = None
    ) -> tuple[NDArray[np.floating], int]:
        """Rows ``start:stop`` of a batch's predictions, checked (1-D for binary), and how many
        rows ``--renormalize`` divided by their sum.

        With a ``workspace`` a multi-class matrix is built in its scratch memory (the kernel
        keeps no view of it); binary and multi-label values keep views of the predictions, so
        those are always fresh.
        """
        assert self.decision is not None
        multiclass = self.decision.task == Task.MULTICLASS.value
        matrix = typed.predictions.rows(
            start, stop, workspace if multiclass else None, float32=self._kernel_widens
        )
        first_row = typed.rows.slice(start)
        renormalized = 0
        # The common case costs one or two reductions over the chunk: a NaN or ±inf makes the
        # sum (binary and multi-label logits) or the min and max (the rest) NaN or infinite.
        # Only a chunk that fails the screen pays for the elementwise checks that find the row.
        with np.errstate(over="ignore", invalid="ignore"):  # an overflowing sum is a false alarm
            if self.decision.logits and not multiclass:
                fine = bool(np.isfinite(matrix.sum()))
            elif matrix.size == 0:
                fine = True
            elif self.decision.logits:
                # Softmax subtracts the row maximum: the spread must fit a float64 too.
                fine = bool(np.isfinite(float(matrix.max()) - float(matrix.min())))
            else:
                fine = bool(0.0 <= matrix.min() <= matrix.max() <= 1.0)
        if not fine:
            self._check_finite(matrix, self._prediction_names(), first_row, "prediction")
            if self.decision.logits and multiclass:
                self._check_spread(matrix, first_row)
        positive = self.decision.positive
        if not self.decision.logits:
            matrix, renormalized = self._check_probabilities(matrix, first_row, in_range=fine)
        if positive is not None:
            if self.decision.logits:  # softmax of (z_0, z_1) is sigmoid(z_1 - z_0)
                with np.errstate(over="ignore", invalid="ignore"):
                    margin = matrix[:, positive] - matrix[:, 1 - positive]
                if not np.isfinite(margin).all():
                    self._check_spread(matrix, first_row)
                return np.asarray(margin, dtype=np.float64), renormalized
            return matrix[:, positive], renormalized
        if self.decision.task == Task.BINARY.value:
            return matrix[:, 0], renormalized
        return matrix, renormalized

    @property
    def _kernel_widens(self) -> bool:
        # Multi-class logits go to a kernel that widens float32 rows to float64 itself.
        assert self.decision is not None
        return self.decision.task == Task.MULTICLASS.value and self.decision.logits

    def rows_in_place(self, typed: TypedBatch) -> bool:
        """Whether :meth:`predictions` hands over views of the batch, copying nothing."""
        return typed.predictions.in_place(float32=self._kernel_widens)

    def _check_spread(self, matrix: NDArray[np.floating], first_row: Rows) -> None:
        """Finite logits whose row spans more than a float64 holds (1e308 and -1e308): the
        shifted logits, and the loss, would overflow."""
        with np.errstate(over="ignore"):
            spread = matrix.max(axis=1).astype(np.float64) - matrix.min(axis=1)
        bad = ~np.isfinite(spread)
        if bad.any():
            row = int(np.argmax(bad))
            col = int(np.argmax(matrix[row]))
            names = self._prediction_names()
            raise NonFiniteError(
                "logits of one row span more than a float64 holds, so softmax overflows",
                file=self.file,
                column=names[col] if len(names) > col else None,
                row=first_row + row,
                value=float(matrix[row, col]),
                hint="clip or rescale the logits",
            )

    def _prediction_names(self, width: int | None = None) -> Sequence[str]:
        """The column that holds each prediction value (a list column's name for all of its
        ``width`` values; the width is known from the converter once decided)."""
        if self.plan.prediction_list is not None:
            return [self.plan.prediction_list] * max(self.width if width is None else width, 1)
        return self.plan.predictions

    def _targets(self, batch: pa.RecordBatch, first_row: Rows) -> Float:
        plan = self.plan
        matrix = self._block(batch, plan.targets, plan.target_list, first_row, "target").rows()
        # Two reductions screen the common case (a NaN makes both fail): the checks that name
        # the row run only on a batch that fails it.
        if matrix.size == 0 or (matrix.min() >= 0.0 and matrix.max() <= 1.0):
            return matrix
        names = plan.targets or [plan.target_list or ""] * matrix.shape[1]
        self._check_finite(matrix, names, first_row, "target")
        outside = (matrix < 0.0) | (matrix > 1.0)
        if outside.any():
            row, col = np.argwhere(outside)[0]
            raise ProbabilityRangeError(
                "target lies outside [0, 1]",
                file=self.file,
                column=names[col],
                row=first_row + int(row),
                value=float(matrix[row, col]),
            )
        return np.asarray(matrix, dtype=np.float64)

    def _check_probabilities(
        self, matrix: NDArray[np.floating], first_row: Rows, in_range: bool = False
    ) -> tuple[NDArray[np.floating], int]:
        assert self.decision is not None
        names = self._prediction_names()
        outside = None if in_range else (matrix < 0.0) | (matrix > 1.0)
        if outside is not None and outside.any():
            row, col = np.argwhere(outside)[0]
            if self.settings.logits is None:
                hint = (
                    "the first rows were read as probabilities; pass --logits if these are logits"
                )
            else:
                hint = "with --probs every value must lie in [0, 1]; pass --logits for logits"
            raise ProbabilityRangeError(
                "probability lies outside [0, 1]",
                file=self.file,
                column=names[col],
                row=first_row + int(row),
                value=float(matrix[row, col]),
                hint=hint,
            )
        if self.decision.task == Task.MULTICLASS.value or self.decision.positive is not None:
            sums = matrix.sum(axis=1, dtype=np.float64)
            bad = np.abs(sums - 1.0) > SUM_TOLERANCE
            if bad.any() and self.settings.renormalize and (sums[bad] > 0).all():
                matrix = matrix.copy()
                matrix[bad] /= sums[bad, None]
                return matrix, int(bad.sum())
            if bad.any():
                row = int(np.argmax(bad))
                raise RowSumError(
                    f"probabilities sum to {sums[row]:.6g}, not 1 (tolerance {SUM_TOLERANCE:g})",
                    file=self.file,
                    row=first_row + row,
                    hint="pass --logits if these are scores, --renormalize to divide each row "
                    "by its sum, or fix the model's output",
                )
        return matrix, 0

    def _weights(self, batch: pa.RecordBatch, first_row: Rows) -> Float | None:
        name = self.plan.weight
        if name is None:
            return None
        weights = self._numeric(batch.column(name), name, first_row, "weight").astype(np.float64)
        finite = np.isfinite(weights)
        if not finite.all():
            row = int(np.argmax(~finite))
            raise NonFiniteError(
                "weight is not finite",
                file=self.file,
                column=name,
                row=first_row + row,
                value=float(weights[row]),
            )
        if (weights < 0).any():
            row = int(np.argmax(weights < 0))
            raise WeightError(
                "weight is negative",
                file=self.file,
                column=name,
                row=first_row + row,
                value=float(weights[row]),
                hint="sample weights must be >= 0",
            )
        return weights
