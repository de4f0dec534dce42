"""The column resolver: which columns mean what, and each record batch as typed, checked arrays.

Three steps, in order:

1. :func:`plan_columns` reads only the schema: the label column, the prediction columns (wide
   ``p_*`` / ``prob_*`` / ``logit_*`` columns, one list column, or every other numeric column),
   target, weight and id columns, and the class names.
2. :func:`decide` looks once at the first rows of the input (a window whose size depends on the
   data's shape, never on how it is batched) and fixes the task and whether predictions are
   logits or probabilities. The decision is never revisited: a later row that contradicts it is an
   input error naming that row, so any batching of the same data gives the same report.
3. :meth:`Converter.convert` turns each ``pyarrow.RecordBatch`` into a :class:`TypedBatch` of
   NumPy arrays, checking every value (missing, NaN/inf, non-numeric, out of range, rows not
   summing to 1, unknown labels) and naming the file, column, 1-based row and value on failure.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, overload

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from ce_cli.core.workspace import Workspace
from ce_cli.errors import (
    AmbiguousPredictionsError,
    LabelError,
    MissingColumnError,
    NonFiniteError,
    NonNumericError,
    ProbabilityRangeError,
    RowSumError,
    UsageError,
    WeightError,
    did_you_mean,
)
from ce_cli.settings import Settings, Task

DEFAULT_LABEL_COLUMNS = ("label", "y", "y_true", "target", "labels")
PREDICTION_PREFIXES = ("p_", "prob_", "logit_")
SUM_TOLERANCE = 1e-3
WINDOW_VALUES = 1 << 20
WINDOW_MAX_ROWS = 65_536

Float = NDArray[np.float64]


@dataclass(frozen=True)
class ColumnPlan:
    """Which input columns hold what (from the schema alone)."""

    label: str | None
    predictions: tuple[str, ...]
    prediction_list: str | None
    targets: tuple[str, ...]
    target_list: str | None
    weight: str | None
    id: str | None
    group: str | None
    classes: tuple[str, ...]
    logits_by_name: bool
    float32: bool
    sequence: str | None = None
    columns_reason: str = ""  # why these prediction columns (shown in the report)

    @property
    def n_prediction_columns(self) -> int:
        return len(self.classes)

    @property
    def read_columns(self) -> list[str]:
        names: list[str] = []
        seen: set[str] = set()  # a set: inputs may have 100,000 columns
        for name in (
            self.label if not (self.targets or self.target_list) else None,
            *self.predictions,
            self.prediction_list,
            *self.targets,
            self.target_list,
            self.weight,
            self.id,
            self.group,
            self.sequence,
        ):
            if name is not None and name not in seen:
                seen.add(name)
                names.append(name)
        return names

    @property
    def float_columns(self) -> list[str]:
        return [*self.predictions, *self.targets, *([self.weight] if self.weight else [])]


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


def _is_numeric(t: pa.DataType) -> bool:
    return bool(
        pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or pa.types.is_boolean(t)
        or pa.types.is_decimal(t)
        or pa.types.is_null(t)
    )


def _is_text(t: pa.DataType) -> bool:
    value_type = t.value_type if pa.types.is_dictionary(t) else t
    return bool(pa.types.is_string(value_type) or pa.types.is_large_string(value_type))


def _is_list(t: pa.DataType) -> bool:
    return bool(pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t))


def _expand(patterns: Sequence[str], schema: pa.Schema, option: str, file: str) -> tuple[str, ...]:
    """Column names for a comma list of names and globs (globs in schema order)."""
    names = schema.names
    out: list[str] = []
    taken: set[str] = set()
    for pattern in patterns:
        if any(ch in pattern for ch in "*?["):
            matched = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
            if not matched:
                raise MissingColumnError(
                    f"{option} pattern '{pattern}' matches no column",
                    file=file,
                    hint=f"columns are: {_list(names)}",
                )
        elif pattern in names:
            matched = [pattern]
        else:
            raise MissingColumnError(
                f"{option} names a column that is not in the input",
                file=file,
                column=pattern,
                hint=f"{did_you_mean(pattern, names)}columns are: {_list(names)}",
            )
        for m in matched:
            if m not in taken:
                taken.add(m)
                out.append(m)
    return tuple(out)


def _list(names: Sequence[str], most: int = 12) -> str:
    shown = ", ".join(names[:most])
    return shown + (f", … ({len(names)} in all)" if len(names) > most else "")


def _class_names(columns: Sequence[str]) -> tuple[str, ...]:
    for prefix in PREDICTION_PREFIXES:
        if all(c.startswith(prefix) and len(c) > len(prefix) for c in columns):
            return tuple(c[len(prefix) :] for c in columns)
    return tuple(columns)


def _order_by_classes(
    columns: Sequence[str], classes: Sequence[str], file: str, option: str = "--prob-cols"
) -> tuple[str, ...]:
    """The columns reordered to follow ``--classes`` (a column is ``name`` or ``prefix + name``).

    When no column is named after any of the classes (``p_0..p_2`` with ``--classes
    a,b,c``), ``--classes`` names the columns by position instead, one class per column.
    """
    if not _named_after(columns, classes):
        if len(classes) != len(columns):
            raise UsageError(
                f"--classes names {len(classes)} classes but there are {len(columns)} "
                f"{option} columns ({_list(columns)})",
                file=file,
                hint="give one class per column, in column order",
            )
        return tuple(columns)
    by_class: dict[str, str] = {}
    for column in columns:
        by_class[column] = column
        for prefix in (*PREDICTION_PREFIXES, "t_", "y_", "target_"):
            if column.startswith(prefix):
                by_class.setdefault(column[len(prefix) :], column)
    ordered = []
    for name in classes:
        if name not in by_class:
            raise MissingColumnError(
                f"--classes names class '{name}' but no {option} column is named after it",
                file=file,
                hint=f"columns are: {_list(columns)}",
            )
        ordered.append(by_class[name])
    chosen = set(ordered)
    extra = [c for c in columns if c not in chosen]
    if extra:
        raise UsageError(
            f"column '{extra[0]}' is not one of --classes",
            file=file,
            hint="list every class, or narrow the columns with " + option,
        )
    return tuple(ordered)


def _require(schema: pa.Schema, name: str | None, option: str, file: str) -> None:
    if name is not None and name not in schema.names:
        raise MissingColumnError(
            f"{option} names a column that is not in the input",
            file=file,
            column=name,
            hint=f"{did_you_mean(name, schema.names)}columns are: {_list(schema.names)}",
        )


def _check_label_type(t: pa.DataType, column: str, file: str) -> None:
    """Labels are class indices or names: a column of another type (lists, structs, dates)
    is refused before any row is read, so no code path meets it (--ignore-label included)."""
    value_type = t.value_type if pa.types.is_dictionary(t) else t
    if pa.types.is_binary(value_type) or pa.types.is_large_binary(value_type):
        raise LabelError(
            "labels are text that is not UTF-8 (Latin-1 or Windows-1252?)",
            file=file,
            column=column,
            hint="save the file as UTF-8",
        )
    if not (
        _is_numeric(value_type)
        or pa.types.is_string(value_type)
        or pa.types.is_large_string(value_type)
    ):
        raise LabelError(
            f"labels of type {t} are not understood",
            file=file,
            column=column,
            hint="use integer class indices or class names",
        )


# Columns that writers leave behind for the row index: pandas' ``to_csv`` (an empty name, or
# ``Unnamed: 0`` when read back and written again), ``reset_index`` (``index``) and pyarrow's
# ``from_pandas`` (``__index_level_0__``). Never predictions, whatever their type.
_INDEX_COLUMN = re.compile(r"|unnamed: ?\d+|index|level_\d+|__index_level_\d+__", re.IGNORECASE)
# Names that say a column holds something other than a prediction. A candidate named like this
# is refused (with the candidates listed) rather than guessed: a wrong guess would be a number.
_NOT_A_PREDICTION = re.compile(
    r"(?:.*[_\-. ])?(?:id|ids|uid|uuid|guid|key|idx|row|row_?num(?:ber)?|rownum|record)"
    r"|id[_\-. ].*|.*[_\-. ]id[_\-. ].*"
    r"|(?:.*[_\-. ])?(?:weights?|wt|w|sample_?weights?)"
    r"|(?:.*[_\-. ])?(?:fold|folds|split|seed|random_state|epoch|step|iter|iteration|batch)"
    r"|fold[_\-. ]?\d*|split[_\-. ].*|seed[_\-. ].*"
    r"|(?:.*[_\-. ])?(?:labels?|targets?|truth|ground_truth|gt|y|y_true|true|actual|class)"
    r"|(?:.*[_\-. ])?(?:group|cluster|time|timestamp|date|year|month|day|count|n|size|age)"
    r"|(?:.*[_\-. ])?(?:loss|nll|error|correct|accuracy|entropy|confidence|uncertainty|"
    r"temperature|lr|learning_rate|latency(?:_ms)?|duration|threshold|thresh|cutoff)",
    re.IGNORECASE,
)
_CAMEL_ID = re.compile(r".*[a-z](?:Id|ID|Ids|IDs|Key|Idx)")


def is_index_column(name: str) -> bool:
    """Whether ``name`` is an index column a writer left behind (never a prediction)."""
    return _INDEX_COLUMN.fullmatch(name.strip()) is not None


def _named_otherwise(name: str) -> bool:
    """Whether a column's name says it holds something other than predictions."""
    name = name.strip()
    return bool(_NOT_A_PREDICTION.fullmatch(name) or _CAMEL_ID.fullmatch(name))


def _stem(name: str) -> str:
    """A column name with its numbers blanked: ``c7`` and ``c0`` share the stem ``c#``."""
    return re.sub(r"\d+", "#", name.strip().lower())


def _is_float(t: pa.DataType) -> bool:
    return bool(pa.types.is_floating(t) or pa.types.is_decimal(t))


def _named_after(columns: Sequence[str], classes: Sequence[str]) -> dict[str, str]:
    """``class → column`` for the columns named ``class`` or ``prefix + class``."""
    wanted = set(classes)
    found: dict[str, str] = {}
    for column in columns:
        if column in wanted:
            found.setdefault(column, column)
        for prefix in PREDICTION_PREFIXES:
            rest = column[len(prefix) :]
            if column.startswith(prefix) and rest in wanted:
                found.setdefault(rest, column)
    return found


def refuse_doubtful(candidates: Sequence[str], reason: str, schema: pa.Schema, file: str) -> None:
    """A guessed candidate named like something else, or any candidate of integer type, is an
    error listing the candidates and naming --prob-cols."""
    guessed = reason.startswith("every other")
    suspicious = [n for n in candidates if guessed and _named_otherwise(n)]
    integers = [
        n
        for n in candidates
        if pa.types.is_integer(schema.field(n).type) or pa.types.is_boolean(schema.field(n).type)
    ]
    if suspicious or integers:
        what = (
            f"column '{suspicious[0]}' is named like an id, weight, fold or label"
            if suspicious
            else f"column '{integers[0]}' holds integers ({schema.field(integers[0]).type})"
        )
        raise AmbiguousPredictionsError(
            f"cannot tell the prediction columns: {what}, not like a prediction",
            file=file,
            hint=f"candidates were {_list(candidates)} ({reason.split(';')[0]}); name the "
            "prediction columns with --prob-cols (and others with --id-col, --weight-col)",
        )


def _infer_predictions(
    schema: pa.Schema,
    settings: Settings,
    taken: set[str | None],
    file: str,
    defer: bool = False,
) -> tuple[tuple[str, ...], str]:
    """The prediction columns when ``--prob-cols`` is not given, and why (SPEC's order):
    ``p_*``/``prob_*``/``logit_*``; else one list column; else columns named after
    ``--classes``; else every other floating-point column. Index columns and the label,
    target, weight, id and group columns are never candidates; a candidate whose name or
    integer type says it is something else is an error listing the candidates."""
    names = schema.names
    free = [n for n in names if n not in taken and not is_index_column(n)]
    left_out = [n for n in names if n not in taken and is_index_column(n)]
    quoted = [f"'{n}'" for n in left_out]
    why_out = f"; index column {_list(quoted)} left out" if left_out else ""

    def field_type(name: str) -> pa.DataType:
        return schema.field(name).type

    candidates = [n for n in free if n.startswith(PREDICTION_PREFIXES)]
    reason = "columns named p_*, prob_* or logit_*"
    if not candidates:
        lists = [n for n in free if _is_list(field_type(n))]
        if len(lists) == 1:
            return (lists[0],), "the only list column"
        if len(lists) > 1:  # Spark's probability and rawPrediction, say: never a guess
            raise AmbiguousPredictionsError(
                f"cannot tell the prediction columns: {len(lists)} list columns "
                f"({_list(lists)}) could hold them",
                file=file,
                hint="name the one that holds the predictions with --prob-cols",
            )
        named = _named_after(free, settings.classes or ())
        if settings.classes and len(named) == len(settings.classes):
            chosen = set(named.values())
            candidates = [n for n in free if n in chosen]
            reason = "columns named after --classes"
        else:
            candidates = [n for n in free if _is_float(field_type(n))]
            reason = "every other floating-point column"
            # An integer column named like the float ones (c7 beside c0..c9: a class whose
            # probabilities were all written as 0) would shift every class after it.
            stems = {_stem(n) for n in candidates}
            siblings = [
                n
                for n in free
                if not _is_float(field_type(n))
                and _is_numeric(field_type(n))
                and _stem(n) in stems
                and re.search(r"\d", n)
            ]
            if siblings:
                raise AmbiguousPredictionsError(
                    f"cannot tell the prediction columns: column '{siblings[0]}' holds "
                    f"{field_type(siblings[0])} but is named like the float columns "
                    f"{_list(candidates, 4)}",
                    file=file,
                    hint="name every prediction column with --prob-cols (an all-zero column "
                    "written as integers is still one)",
                )
            if not candidates:
                others = [n for n in free if _is_numeric(field_type(n))]
                hint = "pass --prob-cols (comma list or glob)"
                if others and all(pa.types.is_null(field_type(n)) for n in others):
                    # A CSV with a header and no rows types its columns as null.
                    hint = (
                        f"the other columns ({_list(others)}) hold no values: does the input "
                        "have any data rows? " + hint
                    )
                elif others:
                    hint = (
                        f"the other numeric columns ({_list(others)}) hold integers, "
                        "which are not taken as probabilities or logits; " + hint
                    )
                raise MissingColumnError(
                    "no prediction columns found" + why_out,
                    file=file,
                    hint="name them p_<class>, prob_<class> or logit_<class>, or " + hint,
                )
    # Columns named p_*, prob_*, logit_* or after --classes say what they are; the last step
    # takes every float column, so there a name or an integer type that says otherwise stops it
    # (after the decision's look at the labels, when class names may still narrow the guess).
    if not (reason.startswith("every other") and defer):
        refuse_doubtful(candidates, reason, schema, file)
    return tuple(candidates), reason + why_out


def plan_columns(schema: pa.Schema, settings: Settings, file: str) -> ColumnPlan:
    """Choose the columns from the schema and the options (no data is read)."""
    names = schema.names
    for name, option in (
        (settings.label_col, "--label-col"),
        (settings.weight_col, "--weight-col"),
        (settings.id_col, "--id-col"),
        (settings.group_col, "--group-col"),
        (settings.sequence_col, "--sequence-col"),
    ):
        _require(schema, name, option, file)

    targets: tuple[str, ...] = ()
    target_list = None
    if settings.target_cols:
        targets = _expand(settings.target_cols, schema, "--target-cols", file)
        if len(targets) == 1 and _is_list(schema.field(targets[0]).type):
            target_list, targets = targets[0], ()

    label = settings.label_col
    if label is None and not (targets or target_list):
        label = next((n for n in DEFAULT_LABEL_COLUMNS if n in names), None)
        if label is None:
            hint = f"pass --label-col NAME or --target-cols (columns are: {_list(names)})"
            if names and all(_integer(n) is not None or _is_number(n) for n in names):
                hint = f"the first line looks like data ({_list(names, 6)}): add a header row"
            raise MissingColumnError(
                "no label column: looked for " + ", ".join(DEFAULT_LABEL_COLUMNS),
                file=file,
                hint=hint,
            )
    if label is not None and not (targets or target_list):
        _check_label_type(schema.field(label).type, label, file)
    taken = {
        label,
        settings.weight_col,
        settings.id_col,
        settings.group_col,
        settings.sequence_col,
        target_list,
        *targets,
    } - {None}

    prediction_list = None
    reason = "--prob-cols given"
    if settings.prob_cols:
        predictions = _expand(settings.prob_cols, schema, "--prob-cols", file)
    else:
        # With class-name labels, the decision may still narrow a guess to the columns
        # named after them; it then checks what is left.
        text_labels = label is not None and _is_text(schema.field(label).type)
        predictions, reason = _infer_predictions(schema, settings, taken, file, text_labels)
    overlap = taken & set(predictions)
    if overlap:
        raise UsageError(
            "a column is both a prediction column and the label, target, weight or id column",
            file=file,
            column=sorted(str(o) for o in overlap)[0],
        )
    if len(predictions) == 1 and _is_list(schema.field(predictions[0]).type):
        prediction_list, predictions = predictions[0], ()
    if settings.classes and predictions and len(predictions) > 1:
        predictions = _order_by_classes(predictions, settings.classes, file)
    if settings.classes and targets and len(targets) > 1:
        targets = _order_by_classes(targets, settings.classes, file, option="--target-cols")

    for column in (*predictions, *targets, *([settings.weight_col] if settings.weight_col else [])):
        t = schema.field(column).type
        if not _is_numeric(t) and not pa.types.is_string(t) and not pa.types.is_large_string(t):
            raise NonNumericError(
                f"holds {t}, not numbers", file=file, column=column, hint="pass numeric columns"
            )
    for list_column in (prediction_list, target_list):
        if list_column is not None:
            value_type = schema.field(list_column).type.value_type
            if not _is_numeric(value_type):
                raise NonNumericError(
                    f"is a list of {value_type}, not of numbers", file=file, column=list_column
                )
    if prediction_list is not None:
        value_type = schema.field(prediction_list).type.value_type
        classes: tuple[str, ...] = ()
        float32 = pa.types.is_float32(value_type) or pa.types.is_float16(value_type)
        pred_names: Sequence[str] = (prediction_list,)
    else:
        classes = _class_names(predictions)
        if settings.classes and len(predictions) > 1:
            classes = tuple(settings.classes)
        float32 = all(
            pa.types.is_float32(schema.field(c).type) or pa.types.is_float16(schema.field(c).type)
            for c in predictions
        )
        pred_names = predictions
    if len(set(classes)) != len(classes):
        raise UsageError("two prediction columns name the same class", file=file)
    logits_by_name = all(n.lower().startswith("logit") for n in pred_names)
    return ColumnPlan(
        label=label if not (targets or target_list) else None,
        predictions=predictions,
        prediction_list=prediction_list,
        targets=targets,
        target_list=target_list,
        weight=settings.weight_col,
        id=settings.id_col,
        group=settings.group_col,
        classes=classes,
        logits_by_name=logits_by_name,
        float32=float32,
        sequence=settings.sequence_col,
        columns_reason=reason,
    )


def window_rows(n_columns: int) -> int:
    """How many first rows decide task and logits: a function of the data's width only."""
    return max(1, min(WINDOW_MAX_ROWS, WINDOW_VALUES // max(n_columns, 1)))


def prediction_width(plan: ColumnPlan, batch: pa.RecordBatch) -> int:
    """The prediction values of a row: the prediction columns, or a list column's length (its
    first row's), so that the decision window holds the same values either way."""
    if plan.prediction_list is not None:
        return _list_width(batch.column(plan.prediction_list))
    return max(len(plan.classes), 1)


class Converter:
    """Turns record batches into checked :class:`TypedBatch` es for one plan (and decision)."""

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

    # -- labels --------------------------------------------------------------------------------

    def _prepare_labels(self, batch: pa.RecordBatch) -> None:
        if self.plan.label is None:
            return
        assert self.decision is not None
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
            for i, u in enumerate(uniques):
                index = self._label_lookup.get(str(u))
                if index is None:
                    index = self._label_lookup.get(str(u).strip().lower())
                if index is None:
                    row = int(np.argmax(values == u))
                    raise LabelError(
                        "label is not one of the classes",
                        file=self.file,
                        column=column,
                        row=first_row + row,
                        value=str(u),
                        hint=f"classes are: {_list(self.classes)}",
                    )
                mapped[i] = index
            return mapped[inverse.reshape(-1)]
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

    # -- numbers -------------------------------------------------------------------------------

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


def _take_rows(batch: pa.RecordBatch, keep: NDArray[np.intp]) -> pa.RecordBatch:
    """``batch.take(keep)``, with list columns of equal-length numeric rows copied by NumPy:
    pyarrow's list take copies about ten times slower (14 MB of a 256k vocabulary: 68 ms
    against 7 ms), and a batch of tokens with padding left out is mostly list values."""
    indices = pa.array(keep)
    columns = []
    for column in batch.columns:
        taken = _take_list_rows(column, keep)
        columns.append(column.take(indices) if taken is None else taken)
    return pa.RecordBatch.from_arrays(columns, schema=batch.schema)


def _take_list_rows(array: pa.Array, keep: NDArray[np.intp]) -> pa.Array | None:
    """The rows ``keep`` of a list column whose rows all hold as many numbers and no nulls, as a
    column of the same type; ``None`` for any other column (pyarrow takes those)."""
    t = array.type
    fixed = pa.types.is_fixed_size_list(t)
    if not (fixed or pa.types.is_list(t) or pa.types.is_large_list(t)) or array.null_count:
        return None
    value_type = t.value_type
    if not (pa.types.is_floating(value_type) or pa.types.is_integer(value_type)):
        return None
    n = len(array)
    if fixed:
        width = int(t.list_size)
    else:
        offsets = np.asarray(array.offsets.to_numpy(zero_copy_only=False))
        lengths = np.diff(offsets)
        width = int(lengths[0]) if n else 0
        if (lengths != width).any():
            return None
    flat = array.flatten()
    if flat.null_count or len(flat) != n * width:
        return None
    values = np.asarray(flat.to_numpy(zero_copy_only=False)).reshape(n, width)[keep]
    taken = pa.array(values.reshape(-1), type=value_type)
    if fixed:
        return pa.FixedSizeListArray.from_arrays(taken, width)
    offset_type = np.int64 if pa.types.is_large_list(t) else np.int32
    new_offsets = pa.array(np.arange(0, (len(keep) + 1) * width, width, dtype=offset_type))
    if pa.types.is_large_list(t):
        return pa.LargeListArray.from_arrays(new_offsets, taken, type=t)
    return pa.ListArray.from_arrays(new_offsets, taken, type=t)


def _list_width(array: pa.Array) -> int:
    """Values a row of a list column: the fixed size, else the first row's length."""
    if pa.types.is_fixed_size_list(array.type):
        return int(array.type.list_size)
    for row in range(len(array)):
        if array[row].is_valid:
            return len(array[row])
    return 1


def _is_one_hot(targets: Float) -> NDArray[np.bool_]:
    return np.asarray(
        ((targets == 0.0) | (targets == 1.0)).all(axis=1) & (targets.sum(axis=1) == 1.0)
    )


def _equals(array: pa.Array, text: str) -> NDArray[np.bool_]:
    """Rows of a label column equal to ``text`` (compared as a number for numeric columns)."""
    import pyarrow.compute as pc  # ~25 ms to import: only where used

    t = array.type
    if pa.types.is_dictionary(t):
        array = array.cast(t.value_type)
        t = array.type
    nothing = np.zeros(len(array), dtype=bool)
    if pa.types.is_decimal(t):  # compared exactly, in the column's own type
        import decimal

        try:
            scalar = pa.scalar(decimal.Decimal(text.strip()), type=t)
        except (decimal.InvalidOperation, pa.ArrowInvalid, ValueError, OverflowError):
            return nothing  # not a number, or not a value of this type: no row equals
        equal = pc.fill_null(pc.equal(array, scalar), False)
        return np.asarray(equal.to_numpy(zero_copy_only=False), dtype=bool)
    if pa.types.is_integer(t):
        # Compared as integers: past 2^53 a float64 cast is refused, or would round.
        number = _integer(text)
        if number is None:
            return nothing
        try:
            scalar = pa.scalar(number, type=t)
        except (pa.ArrowInvalid, OverflowError):  # outside the column's type: no row equals
            return nothing
    elif pa.types.is_floating(t):
        try:
            scalar = pa.scalar(float(text), type=pa.float64())
        except ValueError:
            return nothing
        array = array.cast(pa.float64())  # exact; and pyarrow compares no float16 to float64
    else:
        if not (pa.types.is_string(t) or pa.types.is_large_string(t)):
            array = array.cast(pa.string())
        scalar = pa.scalar(text, type=array.type)
    equal = pc.fill_null(pc.equal(array, scalar), False)
    return np.asarray(equal.to_numpy(zero_copy_only=False), dtype=bool)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _integer(text: str) -> int | None:
    """``text`` as an integer (``-100``, ``1e2``), or ``None`` when it names no integer."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return None
    return int(number) if number.is_integer() else None


def _missing_rows(array: pa.Array) -> NDArray[np.bool_]:
    """Rows of a column that are null, NaN or infinite (any element, for list columns)."""
    import pyarrow.compute as pc  # ~25 ms to import: only where used

    n = len(array)
    missing = ~np.asarray(array.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    if _is_list(array.type):
        flat = array.flatten()
        parents = np.asarray(pc.list_parent_indices(array).to_numpy(zero_copy_only=False))
        bad_values = _missing_rows(flat)
        bad = np.zeros(n, dtype=bool)
        bad[parents[bad_values]] = True
        return missing | bad
    if pa.types.is_floating(array.type):
        finite = pc.fill_null(pc.is_finite(array), False)
        missing |= ~np.asarray(finite.to_numpy(zero_copy_only=False), dtype=bool)
    elif pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        values = array.to_numpy(zero_copy_only=False)
        for i, v in enumerate(values):
            with contextlib.suppress(ValueError):
                missing[i] |= v is None or not np.isfinite(float(v))
    return missing


def _missing_label(array: pa.Array) -> NDArray[np.bool_]:
    """Rows without a label: null, or an empty class name (CSV reads an empty text cell as
    ``""``, where an empty number cell is null)."""
    import pyarrow.compute as pc  # ~25 ms to import: only where used

    missing = ~np.asarray(array.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    t = array.type.value_type if pa.types.is_dictionary(array.type) else array.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        text = array.cast(t) if pa.types.is_dictionary(array.type) else array
        empty = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(text), ""), False)
        missing |= np.asarray(empty.to_numpy(zero_copy_only=False), dtype=bool)
    return missing


def _first_null(array: pa.Array) -> int:
    valid = np.asarray(array.is_valid().to_numpy(zero_copy_only=False))
    return int(np.argmin(valid))
