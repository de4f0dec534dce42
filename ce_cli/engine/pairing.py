"""What makes two rows a pair, for ``compare``: each side's evaluated rows as the pairing needs
them (:class:`Rows`), and the checks that refuse inputs whose rows do not pair, naming the first
mismatch (task and classes; rows left out on one side; labels or multi-label targets; ids)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from ce_cli.engine.plan import Plan
from ce_cli.errors import InputFormatError, LabelError

Float = NDArray[np.float64]


@dataclass
class Rows:
    """One side's evaluated rows, as the pairing needs them."""

    rows: NDArray[np.int64]
    ids: pa.Array | None
    truth: NDArray[Any] | None  # the true class; multi-label: the targets (rows × labels)
    x: Float  # metrics × rows, nats
    # metrics × rows: each row's share of the metric's denominator, and the sample weights (1
    # without --weight-col); None where they are not kept (B's rows held for pairing by id)
    d: Float | None
    s: Float | None

    def take(self, positions: NDArray[np.int64]) -> Rows:
        return Rows(
            self.rows[positions],
            None if self.ids is None else self.ids.take(pa.array(positions)),
            None if self.truth is None else self.truth[positions],
            self.x[:, positions],
            None if self.d is None else self.d[:, positions],
            None if self.s is None else self.s[positions],
        )


def concat_rows(parts: list[Rows]) -> Rows:
    if len(parts) == 1:
        return parts[0]
    ids = [p.ids for p in parts]
    truths = [p.truth for p in parts]
    return Rows(
        np.concatenate([p.rows for p in parts]),
        None if ids[0] is None else pa.concat_arrays([i for i in ids if i is not None]),
        None if truths[0] is None else np.concatenate([t for t in truths if t is not None]),
        np.concatenate([p.x for p in parts], axis=1),
        None if parts[0].d is None else np.concatenate([p.d for p in parts if p.d is not None], 1),
        None if parts[0].s is None else np.concatenate([p.s for p in parts if p.s is not None]),
    )


def check_same_problem(plan_a: Plan, plan_b: Plan) -> None:
    """Both inputs must be the same task with the same classes in the same order; the first
    difference is named."""
    da, db = plan_a.decision, plan_b.decision
    if da.task != db.task:
        raise InputFormatError(
            f"the first input is {da.task} but the second is {db.task}",
            file=plan_b.source,
            hint="compare needs the same task in both (see --task)",
        )
    ca, cb = tuple(plan_a.classes), tuple(plan_b.classes)
    if ca != cb:
        i = next(
            (i for i, (x, y) in enumerate(zip(ca, cb, strict=False)) if x != y),
            min(len(ca), len(cb)),
        )
        first = repr(ca[i]) if i < len(ca) else "none"
        second = repr(cb[i]) if i < len(cb) else "none"
        raise InputFormatError(
            f"the classes differ: {len(ca)} in the first input ({_few(ca)}), {len(cb)} in the "
            f"second ({_few(cb)}); class {i + 1} is {first} in the first, {second} in the second",
            file=plan_b.source,
            hint="compare needs the same classes in the same order (see --classes)",
        )


def _few(names: tuple[str, ...]) -> str:
    return ", ".join(names[:6]) + (", …" if len(names) > 6 else "")


def check_position_pairs(
    rows_a: Rows | None,
    rows_b: Rows | None,
    name_a: str,
    name_b: str,
    classes: Sequence[str] = (),
) -> None:
    """Paired by position, both sides evaluated the same input rows, with the same labels or
    targets, the same sample weights (and ids, where both have an id column): else the first row
    that differs is named."""
    ra = np.zeros(0, np.int64) if rows_a is None else rows_a.rows
    rb = np.zeros(0, np.int64) if rows_b is None else rows_b.rows
    if len(ra) != len(rb) or (ra != rb).any():
        m = min(len(ra), len(rb))
        i = int(np.argmax(ra[:m] != rb[:m])) if (ra[:m] != rb[:m]).any() else m
        in_a = i < len(ra) and (i >= len(rb) or ra[i] < rb[i])
        row = int(ra[i] if in_a else rb[i])
        kept, left = (name_a, name_b) if in_a else (name_b, name_a)
        raise LabelError(
            f"the rows do not pair: input row {row} is evaluated in {kept} but left out of "
            f"{left} (--on-nan drop or --ignore-label)",
            hint="compare needs the same rows in both inputs",
        )
    assert rows_a is not None and rows_b is not None

    def where(i: int) -> str:
        return f"row {int(rows_a.rows[i])} of the first"

    check_labels(rows_a, rows_b, name_a, name_b, where, classes)
    check_weights(rows_a, rows_b, name_a, name_b, where)
    if rows_a.ids is not None and rows_b.ids is not None:
        ids_a = scalar_ids(rows_a.ids, name_a)
        ids_a, ids_b = comparable_ids(ids_a, scalar_ids(rows_b.ids, name_b), name_b)
        differ = pc.fill_null(pc.not_equal(ids_a, ids_b), True)
        if pc.any(differ).as_py():
            i = int(np.argmax(np.asarray(differ.to_numpy(zero_copy_only=False))))
            raise LabelError(
                f"the rows do not pair: row {int(rows_a.rows[i])} of the first has id "
                f"{rows_a.ids[i].as_py()!r} in {name_a} but {rows_b.ids[i].as_py()!r} in {name_b}",
                hint="compare needs the same rows with the same labels in both "
                "(pair them with --id-col if the order differs)",
            )


def comparable_ids(ids_a: pa.Array, ids_b: pa.Array, name_b: str) -> tuple[pa.Array, pa.Array]:
    """The two inputs' ids as one type: as they are where their types agree, else both as text
    (an id read as a number from CSV pairs with the same id stored as text in Parquet)."""
    if ids_a.type.equals(ids_b.type):
        return ids_a, ids_b
    try:
        return _as_text(ids_a), _as_text(ids_b)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise InputFormatError(
            f"the id columns cannot be compared: {ids_a.type} in the first input, "
            f"{ids_b.type} in the second",
            file=name_b,
            hint="give both inputs ids of one type (numbers or text)",
        ) from None


def scalar_ids(ids: pa.Array, name: str) -> pa.Array:
    """Ids that can be looked up: one number or text each (a dictionary column decoded)."""
    if pa.types.is_dictionary(ids.type):
        ids = ids.dictionary_decode()
    if pa.types.is_nested(ids.type):
        raise InputFormatError(
            f"the id column holds {ids.type} values, which cannot pair rows",
            file=name,
            hint="give each row one number or text as its id",
        )
    return ids


def _as_text(ids: pa.Array) -> pa.Array:
    return ids if ids.type.equals(pa.string()) else pc.cast(ids, pa.string())


# Target values and sample weights agree when they differ by at most this fraction of the larger
# (two float32 steps): a value stored as float32 in one input and float64 in the other, or
# written to CSV with 9 or more significant digits, still pairs; 0.05 moved between classes
# does not.
AGREE = 2.0**-22


def agree(a: NDArray[Any], b: NDArray[Any]) -> NDArray[np.bool_]:
    """Where two arrays of target values or weights agree (see :data:`AGREE`)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        same: NDArray[np.bool_] = (a == b) | (
            np.abs(a - b) <= AGREE * np.maximum(np.abs(a), np.abs(b))
        )
    return same


def check_weights(
    rows_a: Rows, rows_b: Rows, name_a: str, name_b: str, where: Callable[[int], str]
) -> None:
    """Both inputs must weigh each row alike (``--weight-col``): a verdict from two weightings
    compares nothing. The first row whose weights differ is named, with both values."""
    sa, sb = rows_a.s, rows_b.s
    if sa is None or sb is None:
        return
    differ = ~agree(sa, sb)
    if differ.any():
        i = int(np.argmax(differ))
        raise LabelError(
            f"the rows do not pair: the sample weights differ at {where(i)}: "
            f"{float(sa[i])!r} in {name_a} but {float(sb[i])!r} in {name_b}",
            hint="compare needs the same weight for each row in both inputs (see --weight-col)",
        )


def check_labels(
    rows_a: Rows,
    rows_b: Rows,
    name_a: str,
    name_b: str,
    where: Callable[[int], str],
    classes: Sequence[str] = (),
) -> None:
    """Both inputs must give each row the same label, or the same targets in full (soft targets
    to within :data:`AGREE`, never only the same argmax)."""
    ta, tb = rows_a.truth, rows_b.truth
    if ta is None or tb is None:
        return
    if ta.dtype.kind == "f" and tb.dtype.kind == "f":
        _check_targets(ta, tb, name_a, name_b, where, classes)
        return
    differ = ta != tb
    if differ.ndim == 2:
        differ = differ.any(axis=1)
    if differ.any():
        i = int(np.argmax(differ))
        what = "labels" if ta.ndim == 2 else "label"
        raise LabelError(
            f"the rows do not pair: {where(i)} has {what} {_shown(ta[i])} in {name_a} but "
            f"{_shown(tb[i])} in {name_b}",
            hint="compare needs the same rows with the same labels in both "
            "(pair them with --id-col if the order differs)",
        )


def _check_targets(
    ta: NDArray[Any],
    tb: NDArray[Any],
    name_a: str,
    name_b: str,
    where: Callable[[int], str],
    classes: Sequence[str],
) -> None:
    differ = ~agree(ta, tb)
    row_differs = differ.any(axis=1) if differ.ndim == 2 else differ
    if not row_differs.any():
        return
    i = int(np.argmax(row_differs))
    if differ.ndim == 2:
        k = int(np.argmax(differ[i]))
        name = repr(classes[k]) if k < len(classes) else str(k + 1)
        what, va, vb = f" (class {name})", ta[i, k], tb[i, k]
    else:
        what, va, vb = "", ta[i], tb[i]
    raise LabelError(
        f"the rows do not pair: the targets differ at {where(i)}{what}: {float(va)!r} in "
        f"{name_a} but {float(vb)!r} in {name_b}",
        hint="compare needs the same rows with the same targets in both "
        "(pair them with --id-col if the order differs)",
    )


def _shown(truth: Any) -> str:
    if isinstance(truth, np.ndarray):
        return "[" + ", ".join(f"{v:g}" for v in truth) + "]"
    return repr(int(truth))


def id_of(ids: pa.Array) -> Callable[[int], str]:
    return lambda i: f"id {ids[i].as_py()!r}"
