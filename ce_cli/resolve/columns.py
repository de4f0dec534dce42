"""Which columns mean what, from the schema alone (:func:`plan_columns` → :class:`ColumnPlan`): the
label column, the prediction columns (wide ``p_*`` / ``prob_*`` / ``logit_*`` columns, one list
column, or every other numeric column), target, weight and id columns, and the class names."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa

from ce_cli.errors import (
    AmbiguousPredictionsError,
    LabelError,
    MissingColumnError,
    NonNumericError,
    UsageError,
    did_you_mean,
)
from ce_cli.resolve.arrow import _integer, _is_float, _is_list, _is_number, _is_numeric, _is_text
from ce_cli.settings import Settings

DEFAULT_LABEL_COLUMNS = ("label", "y", "y_true", "target", "labels")


PREDICTION_PREFIXES = ("p_", "prob_", "logit_")


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
