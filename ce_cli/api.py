"""The Python API: :func:`evaluate` a file (or an Arrow table / pandas DataFrame) into a Report.

The command line is a thin layer over this function, so a notebook gets the same numbers::

    >>> import ce_cli
    >>> report = ce_cli.evaluate("sample_data/binary.csv", loss="focal", gamma=2)  # doctest: +SKIP
    >>> report.metrics["loss"]  # doctest: +SKIP

Flow: source → record batches → :class:`~ce_cli.resolve.Converter` → per-sample kernel
(:func:`~ce_cli.core.persample.evaluate_rows`) → :class:`~ce_cli.accumulator.Accumulator` →
:func:`~ce_cli.report.build_report`.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pyarrow as pa

from ce_cli.accumulator import Accumulator
from ce_cli.bootstrap import BootstrapAccumulator
from ce_cli.core.logprob import machine_eps
from ce_cli.core.persample import LossSpec, SampleValues, concat_values, evaluate_rows
from ce_cli.core.workspace import Workspace
from ce_cli.errors import CeEvalError, EmptyInputError, UsageError
from ce_cli.prefetch import prefetch
from ce_cli.readers import Source, open_source, sliced
from ce_cli.report import Detection, Report, build_report
from ce_cli.resolve import (
    ColumnPlan,
    Converter,
    Decision,
    TypedBatch,
    plan_columns,
    prediction_width,
    window_rows,
)
from ce_cli.samples_out import PerSampleWriter, PerSequenceWriter
from ce_cli.sequences import DEFAULT_WORST, BatchSequences, SequenceStats, report_section
from ce_cli.settings import Settings
from ce_cli.slices import GroupAccumulators, WorstRows

ProgressCallback = Callable[[int, int | None], None]

# Rows that must be copied (columns stacked, float32 widened) are copied and checked in chunks of
# about this many values, small enough that the copy stays in cache for the kernel.
CHUNK_VALUES = 1 << 18
# A worker takes this many values' rows at a time (several chunks) and sums them into one
# accumulator: the accumulator's many small NumPy calls hold the GIL, and summing per chunk
# kept the second core waiting (1M x 100 logits on two threads: 0.33 s -> 0.28 s). Rows the
# kernel reads in place go to it a task at a time (it works through them in cache-sized blocks
# itself), so its per-row arithmetic runs once per task, not once per chunk.
TASK_VALUES = 1 << 20
MIN_TASK_VALUES = 1 << 17
# Rows handed at a time to what needs per-sample values (bootstrap, slices, per-sample output).
GROUP_ROWS = 1 << 17
# A task of fewer rows than this sums into no accumulator of its own: an accumulator costs
# O(classes) to make, fill and add, as much as the rows themselves where a task is a few rows of
# a 128k vocabulary (half the time of 1,000 x 256,000 logits went there). Such rows are summed
# into the report's accumulator on the calling thread, DEFERRED_ROWS rows at a time.
MIN_ACCUMULATOR_ROWS = 64
DEFERRED_ROWS = 1024
_pool: ThreadPoolExecutor | None = None
# One scratch workspace per thread that evaluates chunks (a workspace is never shared).
_thread_state = threading.local()


def _threads() -> int:
    return max(1, min(int(os.environ.get("CE_EVAL_THREADS", os.cpu_count() or 1)), 8))


def _workspace() -> Workspace:
    workspace: Workspace | None = getattr(_thread_state, "workspace", None)
    if workspace is None:
        workspace = _thread_state.workspace = Workspace()
    return workspace


def _executor() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(_threads(), thread_name_prefix="ce-eval")
    return _pool


class _DeferredUpdates:
    """Rows of wide tasks, folded into an accumulator in groups of at least
    :data:`DEFERRED_ROWS` rows (and at :meth:`flush`), in row order."""

    def __init__(self, acc: Accumulator) -> None:
        self.acc = acc
        self.values: list[SampleValues] = []
        self.weights: list[np.ndarray] = []
        self.rows = 0

    def add(self, values: SampleValues, weights: np.ndarray | None) -> None:
        self.values.append(values)
        if weights is not None:
            self.weights.append(weights)
        self.rows += values.loss.shape[0]
        if self.rows >= DEFERRED_ROWS:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            weights = np.concatenate(self.weights) if self.weights else None
            self.acc.update(concat_values(self.values), weights)
        self.values, self.weights, self.rows = [], [], 0


class _Bootstrap:
    """The run's bootstrap state: per-task replicate sums (drawn on the worker threads) are
    merged into it in row order."""

    def __init__(self, acc: BootstrapAccumulator) -> None:
        self.acc = acc

    def part(self) -> BootstrapAccumulator:
        return BootstrapAccumulator(self.acc.replicates, self.acc.n_bins, self.acc.seed)

    def absorb(self, part: BootstrapAccumulator) -> None:
        self.acc = self.acc.merge(part)


def _evaluate_batch(
    typed: TypedBatch,
    spec: LossSpec,
    converter: Converter,
    acc: Accumulator,
    keep_values: bool,
    deferred: _DeferredUpdates | None = None,
    boot: _Bootstrap | None = None,
) -> Iterator[tuple[SampleValues | None, int, int]]:
    """Evaluate a batch in row chunks on all cores (NumPy drops the GIL) and fold it into ``acc``.

    A worker takes a task of a few chunks, evaluates them and sums them into an accumulator of
    its own; the task accumulators are added into ``acc`` in row order, so the report is
    identical to the last digit whatever the thread count. Yields ``(values, start, stop)`` for
    consecutive groups of about :data:`GROUP_ROWS` rows, in row order, while later tasks are
    still being computed; ``values`` (the rows' per-sample values, for bootstrap, slices and
    per-sample output) is ``None`` unless ``keep_values``. Tasks of fewer than
    :data:`MIN_ACCUMULATOR_ROWS` rows (wide rows) are summed through ``deferred`` instead (one
    is made for the batch when none is given), on this thread. With ``boot``, each task draws
    its rows' Poisson weights and sums its replicates on its worker, merged in row order.
    """
    n = len(typed)
    width = max(typed.predictions.width, 1)
    chunk_rows = max(1, CHUNK_VALUES // width)  # a chunk holds max(CHUNK_VALUES, width) values
    # Tasks of at most TASK_VALUES, and at least two for a batch of 2 x MIN_TASK_VALUES or more,
    # so that the cores share a small batch too. The split depends on the data alone, never on
    # the thread count, so neither do the sums.
    n_tasks = max(-(-n * width // TASK_VALUES), min(2, n * width // MIN_TASK_VALUES), 1)
    task_rows = max(1, -(-n // n_tasks))
    if converter.rows_in_place(typed):
        step = task_rows
    else:  # whole chunks, the last one of the batch excepted
        step = chunk_rows
        task_rows = -(-task_rows // chunk_rows) * chunk_rows
    tasks = [(a, min(a + task_rows, n)) for a in range(0, n, task_rows)]
    own_accumulators = task_rows >= MIN_ACCUMULATOR_ROWS
    batch_deferred = None
    if not own_accumulators and deferred is None:
        deferred = batch_deferred = _DeferredUpdates(acc)

    def run(
        task: tuple[int, int],
    ) -> tuple[SampleValues, Accumulator | None, int, BootstrapAccumulator | None]:
        workspace = _workspace()
        chunks = []
        renormalized = 0
        for a in range(task[0], task[1], step):
            b = min(a + step, task[1])
            predictions, renormalized_rows = converter.predictions(typed, a, b, workspace)
            renormalized += renormalized_rows
            chunks.append(
                evaluate_rows(
                    predictions,
                    spec,
                    labels=None if typed.labels is None else typed.labels[a:b],
                    targets=None if typed.targets is None else typed.targets[a:b],
                    workspace=workspace,
                )
            )
        values = concat_values(chunks)
        weights = None if typed.weights is None else typed.weights[task[0] : task[1]]
        replicates = None
        if boot is not None:
            replicates = boot.part()
            replicates.update(values, typed.rows.array(*task), weights)
        if not own_accumulators:
            return values, None, renormalized, replicates
        part = Accumulator(acc.task, acc.n_classes, acc.n_bins)
        part.update(values, weights)
        part.renormalized_rows = renormalized
        return values, part, renormalized, replicates

    serial = len(tasks) == 1 or _threads() == 1
    results = map(run, tasks) if serial else _executor().map(run, tasks)
    parts: list[SampleValues] = []
    start = 0
    for (a, stop), (values, part, renormalized, replicates) in zip(tasks, results, strict=True):
        if replicates is not None:
            assert boot is not None
            boot.absorb(replicates)
        if part is not None:
            acc.absorb(part)
        else:
            assert deferred is not None
            deferred.add(values, None if typed.weights is None else typed.weights[a:stop])
            acc.renormalized_rows += renormalized
        if keep_values:
            parts.append(values)
        if stop - start >= GROUP_ROWS or stop == n:
            yield (concat_values(parts) if keep_values else None), start, stop
            parts, start = [], stop
    if batch_deferred is not None:
        batch_deferred.flush()


def _table_source(data: Any, name: str) -> Source:
    if not isinstance(data, pa.Table):
        if hasattr(data, "__dataframe__") or type(data).__module__.startswith("pandas"):
            data = pa.Table.from_pandas(data, preserve_index=False)
        elif isinstance(data, pa.RecordBatch):
            data = pa.Table.from_batches([data])
        else:
            raise UsageError(
                "evaluate() takes a path, '-', a pyarrow Table/RecordBatch or a pandas DataFrame",
                value=type(data).__name__,
            )
    table: pa.Table = data

    def stream(columns: Any, _floats: Any) -> Iterator[pa.RecordBatch]:
        t = table if columns is None else table.select(list(columns))
        yield from sliced(t.to_batches(max_chunksize=65_536))

    return Source(name, "arrow-table", table.schema, stream)


def _optional(name: str | None) -> tuple[str, ...]:
    return (name,) if name is not None else ()


def _numbered(
    batches: Iterable[pa.RecordBatch],
) -> Iterator[tuple[pa.RecordBatch, int]]:
    first = 1
    for batch in batches:
        if batch.num_rows:
            yield batch, first
            first += batch.num_rows


def _window(
    batches: Iterator[pa.RecordBatch], rows_for: Callable[[pa.RecordBatch], int]
) -> tuple[list[pa.RecordBatch], Iterator[pa.RecordBatch]]:
    """The first batches, up to ``rows_for(first batch)`` rows (split so the window is exactly
    that long), and the whole stream again (the window's batches first, released as they are
    consumed). Only the window's batches are held: a wide input's window is a few rows."""
    window: list[pa.RecordBatch] = []
    held = 0
    rows: int | None = None
    rest: list[pa.RecordBatch] = []
    for batch in batches:
        if batch.num_rows == 0:
            continue
        if rows is None:
            rows = rows_for(batch)
        if held + batch.num_rows >= rows:
            take = rows - held
            window.append(batch.slice(0, take))
            rest = [batch.slice(take)] if take < batch.num_rows else []
            break
        window.append(batch)
        held += batch.num_rows

    def replay(queue: list[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        while queue:
            yield queue.pop(0)  # popped: nothing here keeps a consumed batch alive
        yield from batches

    return window, replay([*window, *rest])


def _resolve_class_weights(
    settings: Settings, decision: Decision, converter: Converter, source: Source, plan: ColumnPlan
) -> np.ndarray | None:
    weights = settings.class_weights
    if weights is None:
        return None
    n_classes = 2 if decision.task == "binary" else len(converter.classes)
    if weights == "balanced":
        if plan.label is None:
            raise UsageError(
                "--class-weights balanced needs hard labels (--label-col), not --target-cols",
                file=source.name,
            )
        counts = np.zeros(n_classes, dtype=np.int64)
        # Counted over the rows that will be evaluated (after --ignore-label / --on-nan drop).
        columns = plan.read_columns if settings.on_nan == "drop" else [plan.label]
        for batch, first in _numbered(source.batches(columns, plan.float_columns)):
            kept, rows, _, _ = converter.filter(batch, first)
            counts += np.bincount(converter._labels(kept, rows), minlength=n_classes)
        if (counts == 0).any():
            missing = converter.classes[int(np.argmax(counts == 0))]
            raise UsageError(
                "--class-weights balanced needs every class present in the labels",
                file=source.name,
                value=missing,
                hint="give explicit weights with --class-weights w1,w2,…",
            )
        return np.asarray(counts.sum() / (n_classes * counts.astype(np.float64)))
    assert isinstance(weights, tuple)
    if len(weights) != n_classes:
        raise UsageError(
            f"--class-weights has {len(weights)} weights but there are {n_classes} classes "
            f"({', '.join(converter.classes[:8])}{', …' if n_classes > 8 else ''})",
            hint="give one weight per class, in column order",
        )
    return np.asarray(weights, dtype=np.float64)


def _check_compatible(settings: Settings, decision: Decision) -> None:
    if settings.alpha is not None and decision.task == "multiclass":
        raise UsageError(
            "--alpha balances the positive class of binary and multi-label focal loss; "
            "it has no meaning for multi-class",
            hint="use --class-weights to weigh classes",
        )


def evaluate(
    source: Any,
    *,
    per_sample: str | None = None,
    progress: ProgressCallback | None = None,
    per_sequence: str | None = None,
    **options: Any,
) -> Report:
    """Evaluate predictions against labels; ``options`` are :class:`~ce_cli.settings.Settings`.

    ``source`` is a path (Parquet, CSV, TSV, gzip'd CSV, Arrow/Feather, JSON Lines; a directory or
    glob of Parquet files), ``"-"`` for standard input, a ``pyarrow.Table`` or a pandas
    ``DataFrame``. ``per_sample`` writes one row per input row there, ``per_sequence`` one row
    per sequence (with ``sequence_col``). ``progress`` is called as
    ``progress(rows_done, total_rows)`` after each batch (``total_rows`` is ``None`` when the
    format does not say, as for CSV).
    Raises a :class:`~ce_cli.errors.CeEvalError` subclass for bad input.
    """
    settings = options.pop("settings", None) or Settings(**options)
    if isinstance(source, str):
        src = open_source(source, settings.input_format)
    else:
        src = _table_source(source, options.get("name", "<table>"))
    try:
        if settings.labels_file:
            from ce_cli.join import join_labels

            labels = open_source(settings.labels_file)
            try:
                src = join_labels(src, labels, settings.id_col)
            except BaseException:
                labels.close()
                raise
        return _evaluate_source(src, settings, per_sample, progress, per_sequence)
    except CeEvalError as error:
        raise error.with_file(src.name) from None
    finally:
        src.close()


def _evaluate_source(
    src: Source,
    settings: Settings,
    per_sample_path: str | None,
    progress: ProgressCallback | None,
    per_sequence_path: str | None = None,
) -> Report:
    plan = plan_columns(src.schema, settings, src.name)
    converter = Converter(plan, settings, src.name)
    batches = src.batches(plan.read_columns, plan.float_columns)
    window, stream = _window(
        prefetch(batches, depth=1), lambda first: window_rows(prediction_width(plan, first))
    )
    if not window or sum(b.num_rows for b in window) == 0:
        raise EmptyInputError("the input has no data rows", file=src.name)
    decision = converter.decide(window)
    window.clear()  # the stream replays these; holding them would pin their buffers all run
    _check_compatible(settings, decision)
    class_weights = _resolve_class_weights(settings, decision, converter, src, plan)
    if (
        class_weights is not None
        and settings.class_weights == "balanced"
        and decision.task == "multilabel"
    ):
        raise UsageError("--class-weights balanced is not defined for multi-label")
    eps = machine_eps(np.float32 if plan.float32 else np.float64)
    spec = LossSpec(
        task=decision.task,
        logits=decision.logits,
        loss=settings.loss.value,
        gamma=settings.gamma,
        alpha=settings.alpha,
        smoothing=settings.smoothing,
        class_weights=class_weights,
        eps=eps,
    )
    n_classes = len(converter.classes)
    acc = Accumulator(decision.task, n_classes, settings.bins)
    boot = (
        _Bootstrap(BootstrapAccumulator(settings.bootstrap, settings.bins, settings.seed))
        if settings.ci is not None
        else None
    )
    groups = GroupAccumulators(decision.task, n_classes, settings.bins) if plan.group else None
    worst = WorstRows(settings.top)
    writer = (
        PerSampleWriter(per_sample_path, converter.classes, settings.base_divisor)
        if per_sample_path
        else None
    )
    if per_sequence_path and plan.sequence is None:
        raise UsageError("--per-sequence needs --sequence-col", hint="e.g. --sequence-col doc_id")
    sequence_writer = (
        PerSequenceWriter(per_sequence_path, settings.base_divisor) if per_sequence_path else None
    )
    sequences = (
        SequenceStats(
            settings.top or DEFAULT_WORST,
            on_close=None if sequence_writer is None else sequence_writer.add,
            open_left=False,
        )
        if plan.sequence is not None
        else None
    )
    keep_values = any(x is not None for x in (groups, writer, sequences)) or bool(settings.top)
    deferred = _DeferredUpdates(acc)
    try:
        for batch, first in _numbered(stream):
            typed = converter.convert(batch, first)
            acc.ignored_rows += typed.ignored
            acc.dropped_rows += typed.dropped
            in_batch = None
            if plan.sequence is not None:
                in_batch = BatchSequences(batch.column(plan.sequence), first, plan.sequence)
            for values, a, b in _evaluate_batch(
                typed, spec, converter, acc, keep_values, deferred, boot
            ):
                if values is None:
                    continue
                weights = None if typed.weights is None else typed.weights[a:b]
                ids = None if typed.ids is None else typed.ids.slice(a, b - a)
                row_numbers = typed.rows.array(a, b)
                if in_batch is not None:
                    in_batch.add(row_numbers - first, values.cross_entropy, weights)
                if groups is not None:
                    assert typed.groups is not None
                    groups.update(values, typed.groups.slice(a, b - a), weights)
                worst.update(values, row_numbers, ids, converter.classes)
                if writer is not None:
                    labels = None
                    if in_batch is not None:
                        labels = batch.column(plan.sequence).take(row_numbers - first)
                    writer.write(values, row_numbers, ids, weights, labels)
            if in_batch is not None:
                assert sequences is not None
                sequences.absorb(in_batch.part(sequences.k), plan.sequence)
            if progress is not None:
                done = acc.rows + deferred.rows + acc.ignored_rows + acc.dropped_rows
                progress(done, src.total_rows)
        deferred.flush()
        detection = Detection(
            task=decision.task,
            logits=decision.logits,
            logits_reason=decision.logits_reason,
            classes=converter.classes,
            label_column=plan.label,
            prediction_columns=plan.predictions or _optional(plan.prediction_list),
            target_columns=plan.targets or _optional(plan.target_list),
            weight_column=plan.weight,
            id_column=plan.id,
            soft_targets=decision.soft_targets,
            eps=eps,
        )
        finish = functools.partial(
            build_report,
            source=src.name,
            detection=detection,
            settings=settings.describe(),
            base=settings.base,
            base_divisor=settings.base_divisor,
            class_weights=None if class_weights is None else [float(w) for w in class_weights],
        )
        report = finish(acc)
        extra: dict[str, Any] = {}
        if boot is not None:
            assert settings.ci is not None
            extra["confidence_intervals"] = boot.acc.intervals(settings.ci, settings.base_divisor)
        if groups is not None:
            extra["groups"] = [
                {"group": name, "n_samples": g.rows, "metrics": finish(g).metrics}
                for name, g in sorted(groups.groups.items())
                if g.weight > 0 and g.loss_denominator > 0
            ]
        if settings.top:
            extra["worst"] = worst.to_list(settings.base_divisor)
        if sequences is not None:
            assert plan.sequence is not None
            summary = sequences.finish()
            extra["sequences"] = report_section(summary, plan.sequence, settings.base_divisor)
        if extra:
            report = dataclasses.replace(report, extra=extra)
    except BaseException:
        if writer is not None:
            writer.abort()
        if sequence_writer is not None:
            sequence_writer.abort()
        raise
    if writer is not None:
        writer.commit()
    if sequence_writer is not None:
        sequence_writer.commit()
    return report
