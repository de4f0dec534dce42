"""Small questions asked of Arrow arrays, vectorised: which cells are missing, which equal a text,
whether a text is a number, a list column's width, and the rows a mask keeps."""

from __future__ import annotations

import contextlib

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from ce_cli.resolve.typed import Float


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


def _is_float(t: pa.DataType) -> bool:
    return bool(pa.types.is_floating(t) or pa.types.is_decimal(t))


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
