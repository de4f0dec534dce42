"""The column resolver: which columns mean what, and each record batch as typed, checked arrays.

Three steps, in order:

1. :func:`~ce_cli.resolve.columns.plan_columns` reads only the schema: the label column, the
   prediction columns (wide ``p_*`` / ``prob_*`` / ``logit_*`` columns, one list column, or every
   other numeric column), target, weight and id columns, and the class names.
2. :func:`decide` looks once at the first rows of the input (a window whose size depends on the
   data's shape, never on how it is batched) and fixes the task and whether predictions are
   logits or probabilities. The decision is never revisited: a later row that contradicts it is an
   input error naming that row, so any batching of the same data gives the same report.
3. :meth:`Converter.convert` turns each ``pyarrow.RecordBatch`` into a
   :class:`~ce_cli.resolve.typed.TypedBatch` of NumPy arrays, checking every value (missing,
   NaN/inf, non-numeric, out of range, rows not summing to 1, unknown labels) and naming the file,
   column, 1-based row and value on failure.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from ce_cli.errors import AmbiguousPredictionsError, NonNumericError, RowSumError, UsageError
from ce_cli.resolve.arrow import (
    _equals,
    _is_one_hot,
    _list_width,
    _missing_label,
    _missing_rows,
    _take_rows,
)
from ce_cli.resolve.columns import ColumnPlan, _list, refuse_doubtful
from ce_cli.resolve.labels import LabelReader
from ce_cli.resolve.numbers import SUM_TOLERANCE
from ce_cli.resolve.typed import Decision, Float, NumberBlock, Rows, TypedBatch
from ce_cli.settings import Task

WINDOW_VALUES = 1 << 20
WINDOW_MAX_ROWS = 65_536


def window_rows(n_columns: int) -> int:
    """How many first rows decide task and logits: a function of the data's width only."""
    return max(1, min(WINDOW_MAX_ROWS, WINDOW_VALUES // max(n_columns, 1)))


def prediction_width(plan: ColumnPlan, batch: pa.RecordBatch) -> int:
    """The prediction values of a row: the prediction columns, or a list column's length (its
    first row's), so that the decision window holds the same values either way."""
    if plan.prediction_list is not None:
        return _list_width(batch.column(plan.prediction_list))
    return max(len(plan.classes), 1)


class Converter(LabelReader):
    """Turns record batches into checked :class:`TypedBatch` es for one plan (and decision)."""

    # -- decisions ---------------------------------------------------------------------------

    def decide(self, window: Sequence[pa.RecordBatch]) -> Decision:
        """Fix task and logits/probabilities from names and the first rows (once per input)."""
        table = pa.Table.from_batches(list(window)) if window else None
        if table is None or table.num_rows == 0:
            from ce_cli.errors import EmptyInputError

            raise EmptyInputError("the input has no data rows", file=self.file)
        batch, rows, ignored, dropped = self.filter(table.combine_chunks().to_batches()[0], 1)
        if batch.num_rows == 0:
            from ce_cli.errors import EmptyInputError

            why = [
                f"--ignore-label {self.settings.ignore_label} left out {ignored:,}"
                if ignored
                else "",
                f"--on-nan drop left out {dropped:,}" if dropped else "",
            ]
            raise EmptyInputError(
                f"no rows are left to evaluate: {' and '.join(w for w in why if w)} of the "
                f"first {table.num_rows:,} rows",
                file=self.file,
                hint="check the label column and --ignore-label, or fill the missing values",
            )
        if self.plan.prediction_list is not None:
            # The stream's window was sized before the list's width was known; the decision
            # reads as many rows as it would from the same values in separate columns.
            batch = batch.slice(
                0, window_rows(_list_width(batch.column(self.plan.prediction_list)))
            )
        self._narrow_to_label_names(batch)
        refuse_doubtful(self.plan.predictions, self.plan.columns_reason, batch.schema, self.file)
        predictions = self._predictions(batch, rows)
        if not self.classes:
            names = self.settings.classes
            if names and len(names) != predictions.width:
                raise UsageError(
                    f"--classes names {len(names)} classes but the list column holds "
                    f"{predictions.width} values a row",
                    file=self.file,
                )
            self.classes = tuple(names) if names else tuple(map(str, range(predictions.width)))
        n_columns = self.width = predictions.width
        has_targets = bool(self.plan.targets or self.plan.target_list)
        targets = self._targets(batch, rows) if has_targets else None
        task = self._decide_task(n_columns, targets, batch)
        soft = targets is not None and task != Task.MULTILABEL.value
        one_hot = bool(
            soft
            and task == Task.MULTICLASS.value
            and self.settings.task is Task.AUTO
            and targets is not None
            and _is_one_hot(targets).all()
        )
        positive = None
        if task == Task.BINARY.value and n_columns == 2:
            # scikit-learn's two-column predict_proba: P(class 1) is the second column (the
            # column named 1 when they are named p_1, p_0); logits z give z_1 - z_0.
            positive = 0 if self.classes == ("1", "0") else 1
        logits, reason = self._decide_logits(
            predictions, Task.MULTICLASS.value if positive is not None else task, rows
        )
        self.decision = Decision(task, logits, reason, soft and not one_hot, one_hot, positive)
        if not logits and self.plan.columns_reason.startswith("every other"):
            self._warn_if_hard(predictions)
        if positive is not None:
            self.classes = (self.classes[1 - positive], self.classes[positive])
            if self.plan.prediction_list is not None:
                column = f"{self.plan.prediction_list}[{positive}]"
            else:
                column = self.plan.predictions[positive]
            self.plan = dataclasses.replace(
                self.plan,
                columns_reason=f"{self.plan.columns_reason}; two columns and two classes: "
                f"binary on {column} (--task multiclass keeps two classes)",
            )
        elif task == Task.BINARY.value:
            # One column, P(class 1), and two outcomes, with hard labels or soft targets alike.
            self.classes = ("0", "1")
        self._prepare_labels(batch)
        return self.decision

    # -- rows left out -------------------------------------------------------------------------

    def filter(
        self, batch: pa.RecordBatch, first_row: int
    ) -> tuple[pa.RecordBatch, Rows, int, int]:
        """Leave out --ignore-label rows and (with --on-nan drop) rows with a missing value.

        Returns the kept rows, their input row numbers, and how many were ignored and dropped.
        """
        n = batch.num_rows
        ignored_mask = np.zeros(n, dtype=bool)
        label = self.plan.label
        if self.settings.ignore_label is not None and label is not None:
            ignored_mask = _equals(batch.column(label), self.settings.ignore_label)
        dropped_mask = np.zeros(n, dtype=bool)
        if self.settings.on_nan == "drop":
            names = [*self.plan.predictions, *self.plan.targets]
            names += [c for c in (self.plan.prediction_list, self.plan.target_list) if c]
            names += [self.plan.weight] if self.plan.weight else []
            for name in names:
                dropped_mask |= _missing_rows(batch.column(name))
            if label is not None:
                dropped_mask |= _missing_label(batch.column(label))
            dropped_mask &= ~ignored_mask
        leave_out = ignored_mask | dropped_mask
        if not leave_out.any():
            return batch, Rows(first_row), 0, 0
        keep = np.flatnonzero(~leave_out)
        kept = _take_rows(batch, keep)
        rows = Rows(first_row, (keep + first_row).astype(np.int64))
        return kept, rows, int(ignored_mask.sum()), int(dropped_mask.sum())

    def _decide_task(self, n_columns: int, targets: Float | None, batch: pa.RecordBatch) -> str:
        requested = self.settings.task
        if targets is not None:
            if targets.shape[1] != n_columns:
                raise UsageError(
                    f"there are {targets.shape[1]} target columns but {n_columns} prediction "
                    "columns",
                    file=self.file,
                    hint="give one target column per prediction column",
                )
            if requested is not Task.AUTO:
                if requested is Task.BINARY and n_columns != 1:
                    raise UsageError(
                        "--task binary needs exactly one prediction column", file=self.file
                    )
                return requested.value
            if n_columns == 1:
                return Task.BINARY.value
            sums = targets.sum(axis=1)
            if np.all(np.abs(sums - 1.0) <= SUM_TOLERANCE):
                return Task.MULTICLASS.value
            if np.all((targets == 0.0) | (targets == 1.0)):
                return Task.MULTILABEL.value
            row = int(np.argmax(np.abs(sums - 1.0) > SUM_TOLERANCE))
            raise RowSumError(
                "target rows neither sum to 1 (soft labels) nor are all 0/1 (multi-label)",
                file=self.file,
                row=row + 1,
                value=float(sums[row]),
                hint="pass --task multilabel for independent labels",
            )
        if requested is Task.MULTILABEL:
            raise UsageError(
                "--task multilabel needs --target-cols (one 0/1 column per label)",
                file=self.file,
                hint="e.g. --target-cols 'y_*'",
            )
        if requested is Task.BINARY or (requested is Task.AUTO and n_columns <= 2):
            if n_columns > 2:
                raise UsageError(
                    "--task binary needs one prediction column (P(class 1)) or two "
                    "(P(class 0), P(class 1))",
                    file=self.file,
                    hint=f"found {n_columns}; use --task multiclass or --prob-cols",
                )
            return Task.BINARY.value
        return Task.MULTICLASS.value

    def _decide_logits(self, predictions: NumberBlock, task: str, rows: Rows) -> tuple[bool, str]:
        if self.settings.logits:
            self._warn_if_probabilities(predictions, task)
            return True, "--logits given"
        if self.settings.logits is False:
            return False, "--probs given"
        if self.settings.renormalize:
            return False, "--renormalize given"
        if self.plan.logits_by_name:
            return True, "columns are named logit*"
        outside = predictions.first_where(lambda x: (x < 0.0) | (x > 1.0))
        if outside is not None:
            return True, f"values outside [0, 1] (row {rows + outside.row}: {outside.value:g})"
        if task != Task.MULTICLASS.value:
            return False, "every value lies in [0, 1]"
        sums = predictions.row_sums()
        bad = np.abs(sums - 1.0) > SUM_TOLERANCE
        if not bad.any():
            return False, "every value lies in [0, 1] and rows sum to 1"
        row = int(np.argmax(bad))
        hint = "pass --logits or --probs"
        if self.plan.columns_reason.startswith("every other"):
            hint = (
                f"the prediction columns were guessed ({_list(self.plan.predictions, 6)}: every "
                "other float column): name them with --prob-cols, or pass --logits or --probs"
            )
        raise AmbiguousPredictionsError(
            "predictions lie in [0, 1] but rows do not sum to 1, so they could be logits or "
            "unnormalised probabilities",
            file=self.file,
            row=rows + row,
            value=float(sums[row]),
            hint=hint,
        )

    def _warn_if_hard(self, predictions: NumberBlock) -> None:
        """Guessed prediction columns holding only 0 and 1 look like predicted classes (a
        ``prediction`` column), not probabilities: a warning, the run goes on."""
        import warnings

        if predictions.n * predictions.width < 20:
            return
        if predictions.first_where(lambda x: (x != 0.0) & (x != 1.0)) is not None:
            return
        from ce_cli.errors import CeEvalWarning

        names = ", ".join(self._prediction_names(predictions.width)[:4])
        warnings.warn(
            CeEvalWarning(
                f"{self.file}: the prediction columns ({names}) hold only 0 and 1 in the first "
                f"{predictions.n:,} rows, like predicted classes; name the probability columns "
                "with --prob-cols if these are not probabilities"
            ),
            stacklevel=2,
        )

    def _warn_if_probabilities(self, predictions: NumberBlock, task: str) -> None:
        """``--logits`` on rows that are valid probabilities (every value in [0, 1], and
        multi-class rows summing to 1) is most likely a mistake: a warning, the run goes on."""
        import warnings

        if self.plan.logits_by_name or predictions.n == 0:
            return
        if predictions.first_where(lambda x: (x < 0.0) | (x > 1.0)) is not None:
            return
        what = "every value lies in [0, 1]"
        if task != Task.MULTICLASS.value and predictions.n * predictions.width < 20:
            return  # a few logits can all lie in [0, 1]; rows that sum to 1 cannot by chance
        if task == Task.MULTICLASS.value:
            if (np.abs(predictions.row_sums() - 1.0) > SUM_TOLERANCE).any():
                return
            what += " and every row sums to 1"
        from ce_cli.errors import CeEvalWarning

        warnings.warn(
            CeEvalWarning(
                f"{self.file}: --logits given, but {what} in the first {predictions.n:,} rows, "
                "as in probabilities; pass --probs (or leave both out) if they are"
            ),
            stacklevel=2,
        )

    def convert(self, batch: pa.RecordBatch, first_row: int) -> TypedBatch:
        """Convert one batch whose first data row is ``first_row`` (1-based).

        Labels, targets and weights are checked here; predictions are checked chunk by chunk
        in :meth:`predictions`.
        """
        assert self.decision is not None, "decide() first"
        plan = self.plan
        batch, rows, ignored, dropped = self.filter(batch, first_row)
        block = self._block(batch, plan.predictions, plan.prediction_list, rows, "prediction")
        if block.n and block.width != self.width:
            raise NonNumericError(
                f"rows have {block.width} predictions, earlier rows had {self.width}",
                file=self.file,
                row=rows + 0,
            )
        labels = targets = None
        if plan.label is not None:
            labels = self._labels(batch, rows)
        else:
            targets = self._targets(batch, rows)
            if self.decision.one_hot_targets:
                labels = self._one_hot_labels(targets, rows)
                targets = None
            elif self.decision.soft_targets and self.decision.task == Task.MULTICLASS.value:
                sums = targets.sum(axis=1)
                bad = np.abs(sums - 1.0) > SUM_TOLERANCE
                if bad.any():
                    row = int(np.argmax(bad))
                    raise RowSumError(
                        f"soft targets sum to {sums[row]:.6g}, not 1",
                        file=self.file,
                        row=rows + row,
                        hint="soft labels are distributions; use --task multilabel for "
                        "independent 0/1 labels",
                    )
            if targets is not None and self.decision.task == Task.BINARY.value:
                targets = targets[:, 0]
        ids = batch.column(plan.id) if plan.id is not None else None
        groups = batch.column(plan.group) if plan.group is not None else None
        return TypedBatch(
            predictions=block,
            labels=labels,
            targets=targets,
            weights=self._weights(batch, rows),
            ids=ids,
            rows=rows,
            groups=groups,
            ignored=ignored,
            dropped=dropped,
        )
