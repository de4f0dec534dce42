"""The batch functions: one record batch and its global row offset in, state out.

:func:`evaluate_batch` is the evaluation pass's pure function, ``(plan, batch, row_offset) ->
State``; :func:`fold_batch` is the same work folded into a running state (what the drivers call,
so a long stream keeps one set of sums). :func:`count_labels` and :func:`temperature_batch` are
the batch functions of the explicit extra passes (balanced class weights, ``--fit-temperature``).

Inside a batch, :func:`kernel` splits the rows into tasks of about :data:`TASK_VALUES` values on
a thread pool (NumPy drops the GIL); the split depends on the data alone and the parts are added
in row order, so the sums never depend on the thread count.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from ce_cli.engine.kernel import (
    CHUNK_VALUES,
    Sink,
    _Bootstrap,
    _executor,
    _threads,
    _workspace,
    kernel,
)
from ce_cli.engine.plan import Plan
from ce_cli.engine.state import State, TemperatureSums
from ce_cli.state.sequences import BatchSequences


def evaluate_batch(plan: Plan, batch: pa.RecordBatch, row_offset: int) -> State:
    """The evaluation state of one batch whose first row is input row ``row_offset + 1``.

    Pure: the plan is only read, and the result depends on the plan, the batch and the offset
    alone (the offset numbers the rows in errors, worst rows and the bootstrap's draws).
    """
    state = State.empty(plan)
    fold_batch(state, plan, batch, row_offset)
    return state


def fold_batch(
    state: State,
    plan: Plan,
    batch: pa.RecordBatch,
    row_offset: int,
    sink: Sink | None = None,
    parallel: bool = True,
    targets: list[NDArray[np.float64]] | None = None,
) -> None:
    """Add one batch into ``state`` (what :func:`evaluate_batch` returns, merged in place);
    ``sink`` receives the per-sample values in row order (per-sample output), and ``targets``
    (with ``sink``) the target rows of each group the sink receives, where targets are given
    (compare checks that both inputs' targets agree)."""
    converter = plan.converter
    first = row_offset + 1
    typed = converter.convert(batch, first)
    acc = state.acc
    acc.ignored_rows += typed.ignored
    acc.dropped_rows += typed.dropped
    column = plan.columns.sequence
    in_batch = None
    if state.sequences is not None and column is not None:
        in_batch = BatchSequences(batch.column(column), first, column)
    keep_values = state.keeps_values or sink is not None
    boot = None if state.boot is None else _Bootstrap(state.boot)
    groups = kernel(
        typed, plan.spec, converter, acc, keep_values, None, boot, state.temperature, parallel
    )
    for values, a, b in groups:
        if values is None:
            continue
        weights = None if typed.weights is None else typed.weights[a:b]
        ids = None if typed.ids is None else typed.ids.slice(a, b - a)
        row_numbers = typed.rows.array(a, b)
        if in_batch is not None:
            in_batch.add(row_numbers - first, values.cross_entropy, weights)
        if state.groups is not None:
            assert typed.groups is not None
            state.groups.update(values, typed.groups.slice(a, b - a), weights)
        state.worst.update(values, row_numbers, ids, plan.classes)
        if sink is not None:
            labels = None
            if in_batch is not None and column is not None:
                labels = batch.column(column).take(row_numbers - first)
            sink(values, row_numbers, ids, weights, labels)
            if targets is not None and typed.targets is not None:
                targets.append(typed.targets[a:b])
    if boot is not None:
        state.boot = boot.acc
    if in_batch is not None:
        assert state.sequences is not None
        state.sequences.absorb(in_batch.part(state.sequences.k), column)


def count_labels(
    counts: NDArray[np.int64], plan: Plan, batch: pa.RecordBatch, row_offset: int
) -> None:
    """Add the batch's label counts (of the rows that will be evaluated, after --ignore-label
    and --on-nan drop) into ``counts``: the pass that balanced class weights need."""
    kept, rows, _, _ = plan.converter.filter(batch, row_offset + 1)
    counts += np.bincount(plan.converter._labels(kept, rows), minlength=counts.shape[0])


def temperature_batch(
    state: TemperatureSums,
    plan: Plan,
    batch: pa.RecordBatch,
    row_offset: int,
    parallel: bool = True,
) -> None:
    """Add one batch's CE sums at ``state.beta`` (and its scaled top-label bins) into ``state``:
    a pass of the temperature fit."""
    converter, spec = plan.converter, plan.spec
    typed = converter.convert(batch, row_offset + 1)
    n = len(typed)
    step = max(1, CHUNK_VALUES // max(typed.predictions.width, 1))

    def chunk(a: int) -> TemperatureSums:
        b = min(a + step, n)
        predictions, _ = converter.predictions(typed, a, b, _workspace())
        part = TemperatureSums(state.beta, state.n_bins)
        part.add_chunk(
            predictions,
            spec,
            None if typed.weights is None else typed.weights[a:b],
            None if typed.labels is None else typed.labels[a:b],
            None if typed.targets is None else typed.targets[a:b],
        )
        return part

    starts = range(0, n, step)
    serial = not parallel or _threads() == 1
    for part in map(chunk, starts) if serial else _executor().map(chunk, starts):
        state.absorb(part)  # in row order: the sums do not depend on the thread count
