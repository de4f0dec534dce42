"""Two inputs, one engine: the paired collector behind ``ce-eval compare``.

Each input is opened by the same readers and planned from its own first rows under the same
:class:`~ce_cli.settings.Settings` (a frozen :class:`~ce_cli.engine.plan.Plan` each; both must
be the same task with the same classes). Its batches go through the evaluate command's batch
function, :func:`~ce_cli.engine.batch.fold_batch`, into a :class:`~ce_cli.engine.state.State`
of its own, from which its full, unpaired report is finished; the per-row values that
``fold_batch`` hands its sink (every registry metric with a ``per_row`` value) are paired row
with row and folded into :class:`PairedSums`: fixed-size sums (per metric, ``Σ s·d``, ``Σ s·x_A``,
``Σ s·x_B`` and per Poisson-bootstrap replicate ``Σ b·s·d`` and ``Σ b·s·(x_A − x_B)``) with a
``merge``. Nothing is written to disk, and each input is read once (with ``--class-weights
balanced`` an explicit label-count pass of the engine reads each input's labels first).

Pairing by position (no ``--id-col``): both streams are read in lockstep and re-cut to common
ranges of input rows, whatever the two files' batch or row-group sizes; the rows each side
evaluated must be the same input rows with the same labels (and the same ids, where both have an
id-named column), else the first that differs is named. Memory: one range of each input.

Pairing by ``--id-col``: the second input (B) is evaluated first and, for each of its evaluated
rows, this module holds its id, its input row number, its true class (multi-label: its targets)
and its per-row values in float64 (five metrics: with the row's slot in ``paired_by``, 64 bytes a
row plus the id, so 10 million rows hold 0.64 GB plus the ids; twice that for a moment while B's
parts are joined; its sample weights too with ``--weight-col``, and with targets the target row,
8 bytes a class, in place of the true class). The ids of rows left out by ``--on-nan drop`` or
``--ignore-label`` are kept on both sides, to say so when one is missing from the other.
The first input (A) is then streamed batch by batch, each of
its ids looked up among B's (an Arrow ``index_in``). An id twice in either input, an id of A
missing from B, or one of B missing from A, is named with its row.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from ce_cli.core.sample_values import SampleValues
from ce_cli.engine.batch import fold_batch
from ce_cli.engine.local import LocalDriver
from ce_cli.engine.pairing import (
    Rows,
    check_labels,
    check_position_pairs,
    check_same_problem,
    check_weights,
    comparable_ids,
    concat_rows,
    id_of,
    scalar_ids,
)
from ce_cli.engine.plan import Plan, balanced_weights
from ce_cli.engine.run import finish, label_counts
from ce_cli.engine.state import State
from ce_cli.errors import CeEvalError, InputFormatError, LabelError
from ce_cli.report.metric import Metric
from ce_cli.report.registry import REPORT_METRICS
from ce_cli.report.report import Report
from ce_cli.settings import Settings
from ce_cli.state.paired import PairedSums

Float = NDArray[np.float64]

# Rows each side has ready before a common range is cut (a range is at most the smaller count).
RANGE_ROWS = 1 << 16

PAIRED_METRICS: tuple[Metric, ...] = tuple(m for m in REPORT_METRICS if m.per_row is not None)
"""The registry's metrics that are a mean of one value per row: compare pairs these row by row.
``per_row`` names the :class:`~ce_cli.core.sample_values.SampleValues` field (multi-label
``correct`` is the row's fraction of labels right)."""


@dataclass
class PairedState:
    """The state of a paired pass: each input's own evaluation state and the paired sums."""

    a: State
    b: State
    paired: PairedSums

    @classmethod
    def empty(cls, plan_a: Plan, plan_b: Plan, replicates: int) -> PairedState:
        names = tuple(m.name for m in PAIRED_METRICS)
        seed = plan_a.settings.seed
        return cls(State.empty(plan_a), State.empty(plan_b), PairedSums(names, replicates, seed))

    def absorb(self, other: PairedState) -> None:
        self.a.absorb(other.a)
        self.b.absorb(other.b)
        self.paired.absorb(other.paired)

    def merge(self, other: PairedState) -> PairedState:
        out = copy.deepcopy(self)
        out.absorb(other)
        return out


class _Collect:
    """A :data:`~ce_cli.engine.batch.Sink`: keeps the rows ``fold_batch`` hands it, reduced to
    the paired metrics' values."""

    def __init__(self, metrics: tuple[Metric, ...]) -> None:
        self.metrics = metrics
        self.parts: list[Rows] = []
        self.targets: list[Float] = []  # each part's target rows, where targets are given
        # False: no denominators, and sample weights only where --weight-col gives them (B's
        # rows, by id: kept to check that both inputs weigh each row alike)
        self.keep_weights = True

    def __call__(
        self,
        values: SampleValues,
        row_numbers: NDArray[np.int64],
        ids: pa.Array | None,
        weights: Float | None,
        _sequences: pa.Array | None = None,
    ) -> None:
        n = len(row_numbers)
        x = np.empty((len(self.metrics), n))
        d = np.ones((len(self.metrics), n)) if self.keep_weights else None
        for k, m in enumerate(self.metrics):
            assert m.per_row is not None
            x[k] = getattr(values, m.per_row)
            if d is not None and m.name == "loss" and values.loss_weight is not None:
                d[k] = values.loss_weight
        truth = values.label_y if values.label_y is not None else values.true_class
        s = None if weights is None else np.asarray(weights, dtype=np.float64)
        if s is None and self.keep_weights:
            s = np.ones(n)
        self.parts.append(Rows(np.asarray(row_numbers, dtype=np.int64), ids, truth, x, d, s))

    def take(self) -> Rows | None:
        """The rows collected since the last take; where targets are given, each row's truth is
        its target row (soft targets pair only where they agree in full, not by argmax)."""
        parts, self.parts = self.parts, []
        targets, self.targets = self.targets, []
        if targets:
            assert len(targets) == len(parts)
            for part, rows in zip(parts, targets, strict=True):
                part.truth = np.asarray(rows, dtype=np.float64)
        return concat_rows(parts) if parts else None


@dataclass
class Paired:
    """What a paired pass returns: both reports, the paired sums, and how it read the inputs."""

    report_a: Report
    report_b: Report
    sums: PairedSums
    metrics: tuple[Metric, ...]
    passes: int  # reads of each input (2 with balanced class weights: the label counts first)


def _guard(source: str, work: Callable[[], Any]) -> Any:
    """``work()``, its input errors naming ``source`` where they name no file."""
    try:
        return work()
    except CeEvalError as error:
        raise error.with_file(source) from None


class _Side:
    """One input: its driver and plan (after the label-count pass balanced weights need)."""

    def __init__(self, driver: LocalDriver, settings: Settings) -> None:
        self.driver = driver
        self.name = driver.name
        self.passes = 1
        self.plan: Plan = _guard(self.name, lambda: driver.plan(settings))
        if self.plan.needs_label_counts:
            counts = _guard(self.name, lambda: label_counts(driver, self.plan))
            self.plan = self.plan.with_class_weights(balanced_weights(self.plan, counts))
            self.passes += 1

    def stream(self) -> Iterator[pa.RecordBatch]:
        """The evaluation pass's non-empty batches (reading errors name this input)."""
        iterator = iter(_guard(self.name, lambda: self.driver.batches(self.plan)))
        while True:
            batch = _guard(self.name, lambda: next(iterator, None))
            if batch is None:
                return
            if batch.num_rows:
                yield batch


def _fold(state: State, plan: Plan, batch: pa.RecordBatch, row_offset: int, sink: _Collect) -> None:
    """``fold_batch`` with ``sink``; its input errors name the plan's input."""
    try:
        fold_batch(state, plan, batch, row_offset, sink=sink, targets=sink.targets)
    except CeEvalError as error:
        raise error.with_file(plan.source) from None


def fold_pair(
    state: PairedState,
    plan_a: Plan,
    plan_b: Plan,
    batch_a: pa.RecordBatch,
    batch_b: pa.RecordBatch,
    row_offset: int,
) -> None:
    """Add the same input rows of both inputs (their first is input row ``row_offset + 1``) to
    ``state``: each side's evaluation state by :func:`~ce_cli.engine.batch.fold_batch`, and the
    paired sums of their per-row values. The rows must pair (same rows evaluated, same labels,
    same ids where both have ids): else the first that does not is named."""
    sink_a, sink_b = _Collect(PAIRED_METRICS), _Collect(PAIRED_METRICS)
    _fold(state.a, plan_a, batch_a, row_offset, sink_a)
    _fold(state.b, plan_b, batch_b, row_offset, sink_b)
    rows_a, rows_b = sink_a.take(), sink_b.take()
    if rows_a is None and rows_b is None:
        return
    check_position_pairs(rows_a, rows_b, plan_a.source, plan_b.source, plan_a.classes)
    assert rows_a is not None and rows_b is not None
    assert rows_a.d is not None and rows_a.s is not None
    state.paired.update(rows_a.x, rows_b.x, rows_a.d, rows_a.s, rows_a.rows)


def pair_batch(
    plan_a: Plan,
    plan_b: Plan,
    batch_a: pa.RecordBatch,
    batch_b: pa.RecordBatch,
    row_offset: int,
    replicates: int,
) -> PairedState:
    """The paired state of the same rows of both inputs (pure: :func:`fold_pair` into an empty
    state). States of consecutive rows merge into the state of their union."""
    state = PairedState.empty(plan_a, plan_b, replicates)
    fold_pair(state, plan_a, plan_b, batch_a, batch_b, row_offset)
    return state


def run_paired(
    driver_a: LocalDriver,
    driver_b: LocalDriver,
    settings: Settings,
    replicates: int,
    by_id: bool,
) -> Paired:
    """Evaluate both inputs under ``settings`` in one pass and pair their rows: ``by_id`` by
    ``settings.id_col``, else by position (where an id column is given too, the ids must then
    agree row by row)."""
    a, b = _Side(driver_a, settings), _Side(driver_b, settings)
    check_same_problem(a.plan, b.plan)
    state = PairedState.empty(a.plan, b.plan, replicates)
    if by_id:
        _pair_by_id(a, b, state)
    else:
        _pair_by_position(a, b, state)
    return Paired(
        finish(a.plan, state.a), finish(b.plan, state.b), state.paired, PAIRED_METRICS, a.passes
    )


class _Cutter:
    """A stream of batches handed out as batches of exactly ``n`` rows, whatever its own sizes,
    and the 0-based input row where the next one starts."""

    def __init__(self, batches: Iterator[pa.RecordBatch]) -> None:
        self._batches = batches
        self._held: list[pa.RecordBatch] = []
        self.ready = 0  # rows held
        self.offset = 0  # input rows handed out
        self.ended = False

    def fill(self, rows: int) -> int:
        """Hold at least ``rows`` rows (fewer at the end of the stream); the rows held."""
        while self.ready < rows and not self.ended:
            batch = next(self._batches, None)
            if batch is None:
                self.ended = True
            else:
                self._held.append(batch)
                self.ready += batch.num_rows
        return self.ready

    def take(self, n: int) -> pa.RecordBatch:
        out: list[pa.RecordBatch] = []
        need = n
        while need:
            batch = self._held[0]
            if batch.num_rows <= need:
                out.append(self._held.pop(0))
                need -= batch.num_rows
            else:
                out.append(batch.slice(0, need))
                self._held[0] = batch.slice(need)
                need = 0
        self.ready -= n
        self.offset += n
        return out[0] if len(out) == 1 else pa.concat_batches(out)

    def rows_to_end(self) -> int:
        """Every input row of the stream (reading what is left, only to count it)."""
        while not self.ended:
            self.fill(self.ready + RANGE_ROWS)
        return self.offset + self.ready


def _pair_by_position(a: _Side, b: _Side, state: PairedState) -> None:
    cut_a, cut_b = _Cutter(a.stream()), _Cutter(b.stream())
    while True:
        n = min(cut_a.fill(RANGE_ROWS), cut_b.fill(RANGE_ROWS))
        if n == 0:
            break
        offset = cut_a.offset
        fold_pair(state, a.plan, b.plan, cut_a.take(n), cut_b.take(n), offset)
    if cut_a.ready or cut_b.ready:
        total_a, total_b = cut_a.rows_to_end(), cut_b.rows_to_end()
        raise InputFormatError(
            f"the two inputs have {total_a:,} and {total_b:,} rows",
            file=b.name,
            hint="compare needs the same rows in both inputs (pair them with --id-col)",
        )


class _LeftOut:
    """The ids (and input rows) of one side's rows left out by ``--on-nan drop`` or
    ``--ignore-label``, so that an id missing from the other side's evaluated rows is said to
    be left out rather than absent."""

    def __init__(self, side: _Side) -> None:
        self.side = side
        self.ids: list[pa.Array] = []
        self.rows: list[NDArray[np.int64]] = []

    def note(self, batch: pa.RecordBatch, offset: int, kept: list[Rows]) -> None:
        n_kept = sum(len(r.rows) for r in kept)
        column = self.side.plan.columns.id
        if n_kept == batch.num_rows or column is None:
            return
        mask = np.ones(batch.num_rows, dtype=bool)
        for part in kept:
            mask[part.rows - offset - 1] = False
        positions = np.flatnonzero(mask)
        self.ids.append(scalar_ids(batch.column(column).take(pa.array(positions)), self.side.name))
        self.rows.append(positions + offset + 1)

    def row_of(self, value: Any) -> int | None:
        """The input row of a left-out row with id ``value``, or None."""
        for ids, rows in zip(self.ids, self.rows, strict=True):
            found = [i for i, v in enumerate(ids.to_pylist()) if v == value or str(v) == str(value)]
            if len(found):
                return int(rows[found[0]])
        return None


def _missing(
    value: Any, row: int, side: _Side, other: _Side, other_left: _LeftOut, which: str
) -> LabelError:
    """The error for a row of ``side`` whose id ``value`` is not among ``other``'s evaluated
    rows: left out there (--on-nan drop, --ignore-label), or not there at all."""
    left_at = other_left.row_of(value)
    if left_at is not None:
        return LabelError(
            f"this id's row was left out of the {which} input (its row {left_at}, by --on-nan "
            "drop or --ignore-label), so this row has no pair",
            file=side.name,
            row=row,
            value=value,
            hint="compare needs the same rows evaluated in both inputs",
        )
    return LabelError(
        f"this id is not in the {which} input",
        file=side.name,
        row=row,
        value=value,
        hint=f"compare pairs each row with the row of the same id in {other.name}",
    )


def _refuse_null_ids(ids: pa.Array, rows: NDArray[np.int64], side: _Side) -> None:
    """A null (or empty text) id pairs with nothing: the first is named, with its row and the
    id column."""
    empty = ids.is_null()
    if pa.types.is_string(ids.type) or pa.types.is_large_string(ids.type):
        empty = pc.or_(empty, pc.equal(pc.fill_null(ids, "x"), ""))  # an empty CSV cell
    if pc.any(empty).as_py():
        i = int(np.argmax(np.asarray(empty.to_numpy(zero_copy_only=False))))
        raise LabelError(
            f"the id column '{side.plan.columns.id}' is empty (null) in this row, so it cannot "
            "be paired by id",
            file=side.name,
            row=int(rows[i]),
            hint="give each row an id",
        )


def _pair_by_id(a: _Side, b: _Side, state: PairedState) -> None:
    sink_b, sink_a = _Collect(PAIRED_METRICS), _Collect(PAIRED_METRICS)
    sink_b.keep_weights = False  # A's rows give the weights and denominators
    left_a, left_b = _LeftOut(a), _LeftOut(b)
    for batch, offset in _numbered(b.stream()):
        before = len(sink_b.parts)
        _fold(state.b, b.plan, batch, offset, sink_b)
        left_b.note(batch, offset, sink_b.parts[before:])
    held = sink_b.take()
    if held is None:
        return
    assert held.ids is not None
    ids_b = scalar_ids(held.ids, b.name)
    _refuse_null_ids(ids_b, held.rows, b)
    first_at = np.asarray(pc.index_in(ids_b, value_set=ids_b).to_numpy(zero_copy_only=False))
    again = first_at != np.arange(len(first_at))
    if again.any():
        i = int(np.argmax(again))
        raise LabelError(
            f"an id appears twice (rows {int(held.rows[first_at[i]])} and {int(held.rows[i])}), "
            "so rows cannot be paired by id",
            file=b.name,
            value=ids_b[i].as_py(),
            hint="give each row its own id",
        )
    paired_by = np.zeros(len(ids_b), dtype=np.int64)  # A's row paired with each of B's rows
    for batch, offset in _numbered(a.stream()):
        _fold(state.a, a.plan, batch, offset, sink_a)
        left_a.note(batch, offset, sink_a.parts)
        rows_a = sink_a.take()
        if rows_a is None:
            continue
        assert rows_a.ids is not None
        batch_ids, ids_b = comparable_ids(scalar_ids(rows_a.ids, a.name), ids_b, b.name)
        _refuse_null_ids(batch_ids, rows_a.rows, a)
        found = pc.index_in(batch_ids, value_set=ids_b)
        if found.null_count:
            i = int(np.argmin(np.asarray(found.is_valid().to_numpy(zero_copy_only=False))))
            value = rows_a.ids[i].as_py()
            raise _missing(value, int(rows_a.rows[i]), a, b, left_b, "second")
        positions = np.asarray(found.to_numpy(zero_copy_only=False), dtype=np.int64)
        order = np.argsort(positions, kind="stable")
        repeated = np.zeros(len(positions), dtype=bool)  # an id met earlier in this batch
        repeated[order[1:]] = positions[order[1:]] == positions[order[:-1]]
        taken = repeated | (paired_by[positions] != 0)
        if taken.any():
            i = int(np.argmax(taken))
            before = int(paired_by[positions[i]])
            if before == 0:
                before = int(rows_a.rows[int(np.argmax(positions == positions[i]))])
            raise LabelError(
                f"an id appears twice (rows {before} and {int(rows_a.rows[i])}), "
                "so rows cannot be paired by id",
                file=a.name,
                value=rows_a.ids[i].as_py(),
                hint="give each row its own id",
            )
        paired_by[positions] = rows_a.rows
        rows_b = held.take(positions)
        check_labels(rows_a, rows_b, a.name, b.name, id_of(rows_a.ids), a.plan.classes)
        check_weights(rows_a, rows_b, a.name, b.name, id_of(rows_a.ids))
        assert rows_a.d is not None and rows_a.s is not None
        state.paired.update(rows_a.x, rows_b.x, rows_a.d, rows_a.s, rows_a.rows)
    if (paired_by == 0).any():
        i = int(np.argmax(paired_by == 0))
        raise _missing(ids_b[i].as_py(), int(held.rows[i]), b, a, left_a, "first")


def _numbered(batches: Iterator[pa.RecordBatch]) -> Iterator[tuple[pa.RecordBatch, int]]:
    """Batches with the 0-based input row offset of their first row."""
    offset = 0
    for batch in batches:
        yield batch, offset
        offset += batch.num_rows
