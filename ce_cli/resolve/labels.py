"""Reading the labels of a batch: class names or indices (text, integers, decimals, booleans)
mapped to the plan's classes, one-hot targets read as labels, and the class names narrowed to
the ones the first rows' labels name. An unknown or missing label names its row."""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from ce_cli.errors import LabelError
from ce_cli.resolve.arrow import _first_null, _is_numeric, _is_one_hot
from ce_cli.resolve.columns import _class_names, _list, _named_after
from ce_cli.resolve.numbers import NumberReader
from ce_cli.resolve.typed import Float, Rows
from ce_cli.settings import Task


def _folded(lookup: dict[str, int]) -> dict[str, int]:
    """The names folded for case and outer spaces, both sides alike; a folded name two classes
    share is left out, so a label matching it stays unknown (an error) instead of a guess."""
    folded: dict[str, int] = {}
    shared: set[str] = set()
    for name, index in lookup.items():
        key = name.strip().lower()
        if folded.get(key, index) != index:
            shared.add(key)
        folded[key] = index
    for key in shared:
        del folded[key]
    return folded


class LabelReader(NumberReader):
    """Labels as class indices, over the checked numbers of :class:`NumberReader`."""

    _folded_noted = False
    _folded_lookup: dict[str, int] | None = None

    def _note_folded(self, label: str, index: int) -> None:
        """A label that names a class only when case is ignored (``DOG`` for ``p_dog``) is
        mapped, and said once; the binary words (``True``, ``FALSE``) are not worth a line."""
        if self._folded_noted or label.strip().lower() in ("true", "false", "0", "1"):
            return
        import warnings

        from ce_cli.errors import CeEvalWarning

        self._folded_noted = True
        warnings.warn(
            CeEvalWarning(
                f"{self.file}: label {label!r} taken as class {self.classes[index]!r} (case and "
                "outer spaces ignored)"
            ),
            stacklevel=2,
        )

    def _narrow_to_label_names(self, batch: pa.RecordBatch) -> None:
        """SPEC's third step, which needs the labels: when the prediction columns were every
        other float column and some of them are named after the class names the first rows'
        labels hold, the prediction columns are those."""
        plan = self.plan
        if not plan.columns_reason.startswith("every other") or plan.label is None:
            return
        array = batch.column(plan.label)
        t = array.type.value_type if pa.types.is_dictionary(array.type) else array.type
        if not (pa.types.is_string(t) or pa.types.is_large_string(t)):
            return
        values = {str(v).strip() for v in array.cast(t).unique().to_pylist() if v is not None}
        named = _named_after(plan.predictions, sorted(values))
        if not named or len(named) == len(plan.predictions):
            return
        chosen = set(named.values())
        columns = tuple(c for c in plan.predictions if c in chosen)
        other = [c for c in plan.predictions if c not in columns]
        schema = batch.schema
        self.plan = dataclasses.replace(
            plan,
            predictions=columns,
            classes=_class_names(columns),
            float32=all(
                pa.types.is_float32(schema.field(c).type)
                or pa.types.is_float16(schema.field(c).type)
                for c in columns
            ),
            columns_reason=f"columns named after the label values ({_list(other)} left out)",
        )
        self.classes = self.plan.classes
        self.width = len(self.classes)

    def _prepare_labels(self, batch: pa.RecordBatch) -> None:
        if self.plan.label is None:
            return
        assert self.decision is not None
        self._folded_lookup = None
        self._label_lookup = {name: i for i, name in enumerate(self.classes)}
        if self.decision.task == Task.BINARY.value:
            lookup = {"0": 0, "1": 1, "false": 0, "true": 1}
            if self.decision.positive is not None:  # columns named after the two classes
                lookup.update({self.classes[0]: 0, self.classes[1]: 1})
            self._label_lookup = lookup
            return
        names = self.classes
        # Columns named after integer classes in another order (p_2, p_0, p_1): map by name.
        # (str.isdecimal is re's \d+ for a non-empty name, and 20x faster on 256k classes.)
        if all(n.isdecimal() for n in names):
            values = [int(n) for n in names]
            if sorted(values) == list(range(len(names))) and values != sorted(values):
                mapping = np.empty(len(names), dtype=np.int64)
                mapping[values] = np.arange(len(names))
                self._int_label_map = mapping

    def _labels(self, batch: pa.RecordBatch, first_row: Rows) -> NDArray[np.int64]:
        assert self.plan.label is not None and self._label_lookup is not None
        column = self.plan.label
        array = batch.column(column)
        if array.null_count:
            row = _first_null(array)
            raise LabelError("missing label", file=self.file, column=column, row=first_row + row)
        t = array.type
        n_classes = len(self.classes)
        if pa.types.is_dictionary(t):
            array = array.cast(t.value_type)
            t = array.type
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            values = array.to_numpy(zero_copy_only=False)
            uniques, inverse = np.unique(values, return_inverse=True)
            mapped = np.empty(len(uniques), dtype=np.int64)
            if self._folded_lookup is None:  # once, not per batch (256k names at LM scale)
                self._folded_lookup = _folded(self._label_lookup)
            folded = self._folded_lookup
            for i, u in enumerate(uniques):
                index = self._label_lookup.get(str(u))
                if index is None:
                    index = folded.get(str(u).strip().lower())
                    if index is not None and self.decision is not None:
                        self._note_folded(str(u), index)
                mapped[i] = -1 if index is None else index
            labels = mapped[inverse.reshape(-1)]
            if (mapped < 0).any():
                # The first unknown label in row order (the uniques are sorted, not in order).
                row = int(np.argmax(labels < 0))
                raise LabelError(
                    "label is not one of the classes",
                    file=self.file,
                    column=column,
                    row=first_row + row,
                    value=str(values[row]),
                    hint=f"classes are: {_list(self.classes)}",
                )
            return labels
        if pa.types.is_boolean(t):
            return np.asarray(array.to_numpy(zero_copy_only=False), dtype=np.int64)
        if pa.types.is_decimal(t):
            array = self._decimal_labels(array, column, first_row, n_classes)
            t = array.type
        if not _is_numeric(t):
            raise LabelError(
                f"labels of type {t} are not understood",
                file=self.file,
                column=column,
                hint="use integer class indices or class names",
            )
        raw = np.asarray(array.to_numpy(zero_copy_only=False))
        if raw.dtype.kind == "f":
            bad = ~np.isfinite(raw) | (raw != np.round(raw))
            if bad.any():
                row = int(np.argmax(bad))
                raise LabelError(
                    "label is not a whole number",
                    file=self.file,
                    column=column,
                    row=first_row + row,
                    value=float(raw[row]),
                    hint="labels are class indices 0..C-1 or class names; "
                    "for soft targets use --target-cols",
                )
        # Range first, in the column's own type: a huge float must not overflow the cast.
        bad = (raw < 0) | (raw >= n_classes)
        labels = np.where(bad, 0, raw).astype(np.int64)
        if bad.any():
            row = int(np.argmax(bad))
            if n_classes == 2 and self.decision is not None and self.decision.task == "binary":
                hint = "binary labels are 0 or 1"
            else:
                hint = f"labels are 0..{n_classes - 1} for {n_classes} prediction columns"
            raise LabelError(
                "label is outside the classes",
                file=self.file,
                column=column,
                row=first_row + row,
                value=raw[row].item() if hasattr(raw[row], "item") else str(raw[row]),
                hint=hint,
            )
        if self._int_label_map is not None:
            labels = self._int_label_map[labels]
        return labels

    def _decimal_labels(
        self, array: pa.Array, column: str | None, first_row: Rows, n_classes: int
    ) -> pa.Array:
        """Decimal labels as int64, exactly: a fraction or a value past int64 names its row."""
        try:
            return array.cast(pa.int64())  # a safe cast: refuses any fraction or overflow
        except (pa.ArrowInvalid, OverflowError):
            pass
        for row, value in enumerate(array.to_pylist()):
            if value is None:
                continue
            whole = value == value.to_integral_value()
            if not whole or not 0 <= value < n_classes:
                raise LabelError(
                    "label is not a whole number" if not whole else "label is outside the classes",
                    file=self.file,
                    column=column,
                    row=first_row + row,
                    value=str(value),
                    hint=f"labels are class indices 0..{n_classes - 1} or class names",
                )
        raise LabelError("labels are not understood", file=self.file, column=column)

    def _one_hot_labels(self, targets: Float, rows: Rows) -> NDArray[np.int64]:
        one_hot = _is_one_hot(targets)
        if not one_hot.all():
            row = int(np.argmax(~one_hot))
            raise LabelError(
                "target row is not one-hot, though the first rows were read as one-hot labels",
                file=self.file,
                row=rows + row,
                hint="pass --task multiclass to read every target row as soft labels",
            )
        return np.asarray(np.argmax(targets, axis=1), dtype=np.int64)
