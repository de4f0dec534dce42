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

from ce_cli.accumulator import Accumulator, classwise_of_values
from ce_cli.bootstrap import BootstrapAccumulator
from ce_cli.core.calibration import (
    ClasswisePart,
    ClasswiseSums,
    bin_sums,
    classwise_part,
    ece_from_bins,
    probabilities,
)
from ce_cli.core.logprob import machine_eps
from ce_cli.core.persample import (
    MULTICLASS,
    MULTILABEL,
    LossSpec,
    SampleValues,
    concat_values,
    evaluate_rows,
)
from ce_cli.core.temperature import (
    TemperatureFit,
    fit_beta,
    log_inputs,
    temperature_sums,
    temperature_sums_two_class,
    two_class_logits,
)
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
# Classwise bins of at most this many cells (classes × bins) are folded into dense sums on the
# worker; more (a vocabulary) travel sparse to the accumulator, never C × B per task.
DENSE_CLASSWISE_CELLS = 1 << 16
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
    :data:`DEFERRED_ROWS` rows (and at :meth:`flush`), in row order, through one part per group
    (their classwise-view sums go to the accumulator as they come, sparse)."""

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
            values = concat_values(self.values)
            part = Accumulator(self.acc.task, self.acc.n_classes, self.acc.n_bins, detail=False)
            part.update(values, weights)
            self.acc.absorb(part)
            self.acc.update_fine(values, weights)
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
    temperature: _TemperaturePass | None = None,
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
    ) -> tuple[
        SampleValues,
        Accumulator | None,
        int,
        BootstrapAccumulator | None,
        _TemperaturePass | None,
        list[ClasswisePart | ClasswiseSums],
    ]:
        workspace = _workspace()
        scaled = None if temperature is None else _TemperaturePass(1.0, acc.n_bins)
        chunks = []
        renormalized = 0
        weights = None if typed.weights is None else typed.weights[task[0] : task[1]]
        classwise: list[ClasswisePart | ClasswiseSums] = []
        for a in range(task[0], task[1], step):
            b = min(a + step, task[1])
            predictions, renormalized_rows = converter.predictions(typed, a, b, workspace)
            renormalized += renormalized_rows
            # The classwise bins read the chunk first, while the converter's copy is in cache
            # (the chunk's buffer is reused by the next one: sum it now).
            early = spec.task == MULTICLASS and not (spec.logits and typed.labels is not None)
            part_classwise = (
                _classwise_chunk(predictions, typed, spec, a, b, acc.n_bins, None)
                if early
                else None
            )
            chunks.append(
                evaluate_rows(
                    predictions,
                    spec,
                    labels=None if typed.labels is None else typed.labels[a:b],
                    targets=None if typed.targets is None else typed.targets[a:b],
                    workspace=workspace,
                )
            )
            if spec.task == MULTICLASS and not early:  # logits: q from the row's lse
                part_classwise = _classwise_chunk(
                    predictions, typed, spec, a, b, acc.n_bins, chunks[-1]
                )
            if part_classwise is not None:
                classwise.append(_with_squares(part_classwise, chunks[-1], typed, a, b))
            if scaled is not None:
                scaled.add_chunk(
                    predictions,
                    spec,
                    None if typed.weights is None else typed.weights[a:b],
                    None if typed.labels is None else typed.labels[a:b],
                    None if typed.targets is None else typed.targets[a:b],
                )
        values = concat_values(chunks)
        replicates = None
        if boot is not None:
            replicates = boot.part()
            replicates.update(values, typed.rows.array(*task), weights)
        if spec.task != MULTICLASS:
            own = classwise_of_values(spec.task, values, weights, acc.n_bins)
            classwise = [] if own is None else [own]
        if not own_accumulators:  # summed on the calling thread (_DeferredUpdates)
            return values, None, renormalized, replicates, scaled, classwise
        # The part keeps no fine histogram and no classwise bins (2.6 MB and C × B cells of
        # fresh memory per task cost more than its rows); the accumulator that absorbs it folds
        # those in, in row order, from the values and the sparse classwise sums returned here.
        part = Accumulator(acc.task, acc.n_classes, acc.n_bins, detail=False)
        part.update(values, weights)
        part.renormalized_rows = renormalized
        if acc.n_classes * acc.n_bins <= DENSE_CLASSWISE_CELLS:
            # Few cells: fold here, on this worker, and hand over C × B sums that add cheaply.
            dense = ClasswiseSums(acc.n_classes, acc.n_bins)
            for piece in classwise:
                assert isinstance(piece, ClasswisePart)
                dense.add(piece)
            return values, part, renormalized, replicates, scaled, [dense]
        return values, part, renormalized, replicates, scaled, classwise

    serial = len(tasks) == 1 or _threads() == 1
    results = map(run, tasks) if serial else _executor().map(run, tasks)
    parts: list[SampleValues] = []
    start = 0
    for (a, stop), (values, part, renormalized, replicates, scaled, classwise) in zip(
        tasks, results, strict=True
    ):
        if replicates is not None:
            assert boot is not None
            boot.absorb(replicates)
        for k, piece in enumerate(classwise):  # the task's rows, counted once
            acc.add_classwise(piece, stop - a if k == 0 else 0)
        if temperature is not None and scaled is not None:
            temperature.absorb(scaled)
        w = None if typed.weights is None else typed.weights[a:stop]
        if part is not None:
            acc.absorb(part)
            acc.update_fine(values, w)
        else:
            assert deferred is not None
            deferred.add(values, w)
            acc.renormalized_rows += renormalized
        if keep_values:
            parts.append(values)
        if stop - start >= GROUP_ROWS or stop == n:
            yield (concat_values(parts) if keep_values else None), start, stop
            parts, start = [], stop
    if batch_deferred is not None:
        batch_deferred.flush()


def _with_squares(
    part: ClasswisePart, values: SampleValues, typed: TypedBatch, a: int, b: int
) -> ClasswisePart:
    """Hard labels: ``Σ s Σ_k q_k²`` from the rows' Brier scores, ``(1 − q_t)² + Σ_{k≠t} q_k²``
    (no pass over the matrix); soft targets have it already."""
    if typed.labels is not None and values.true_prob is not None:
        squares = values.brier - 1.0 + 2.0 * values.true_prob
        s = None if typed.weights is None else typed.weights[a:b]
        part.square = float(squares.sum() if s is None else np.einsum("i,i->", s, squares))
    return part


def _classwise_chunk(
    predictions: np.ndarray,
    typed: TypedBatch,
    spec: LossSpec,
    a: int,
    b: int,
    n_bins: int,
    values: SampleValues | None,
) -> ClasswisePart:
    """The classwise-view bin sums of multi-class rows ``a:b`` (all classes' probabilities);
    with hard labels ``square`` is left to the caller, who has it from the Brier score.

    From logits with hard labels, ``values`` (the kernel's numbers for these rows) give each
    row's log-sum-exp, ``cross_entropy + z_t`` in nats, so ``q = exp(z − lse)`` costs one
    subtraction and one ``exp`` (a softmax from scratch would take five passes)."""
    weights = None if typed.weights is None else typed.weights[a:b]
    if typed.labels is not None:
        if values is not None and spec.logits:
            t = typed.labels[a:b]
            z = np.asarray(predictions, dtype=np.float64)
            z_true = z[np.arange(len(t)), t]
            lse = values.cross_entropy + z_true
            scaled = z - lse[:, None]
            # CE + z_t keeps lse's digits only while both are moderate: logits of 1e35 leave an
            # error of about 1e19 in it, and exp(z - lse) overflowed (exit 3). Those rows get a
            # softmax of their own.
            far = (np.abs(z_true) > 2.0**40) | ~(np.abs(values.cross_entropy) <= 2.0**40)
            scaled[far] = 0.0
            q: np.ndarray = np.exp(scaled, out=scaled)
            if far.any():
                q[far] = probabilities(z[far], True)
        else:
            q = probabilities(predictions, spec.logits)
        return classwise_part(
            q,
            weights,
            n_bins,
            labels=typed.labels[a:b],
            row_squares=np.zeros(0),
        )
    return classwise_part(
        probabilities(predictions, spec.logits),
        weights,
        n_bins,
        targets=None if typed.targets is None else typed.targets[a:b],
    )


def _soft(converter: Converter, spec: LossSpec) -> bool:
    """Soft (not 0/1) multi-class targets: accuracy then says nothing about separability."""
    decision = converter.decision
    return spec.task == MULTICLASS and decision is not None and bool(decision.soft_targets)


class _TemperaturePass:
    """One pass's CE sums at β and the equal-width bins of its scaled top-label events."""

    def __init__(self, beta: float, n_bins: int) -> None:
        self.beta, self.n_bins = beta, n_bins
        self.sums = np.zeros(3)
        self.weight = 0.0
        self.bins = [np.zeros(n_bins) for _ in range(3)]

    def add_chunk(
        self,
        predictions: np.ndarray,
        spec: LossSpec,
        s: np.ndarray | None,
        labels: np.ndarray | None,
        targets: np.ndarray | None,
    ) -> None:
        part, (c, o, w) = temperature_chunk(predictions, spec, self.beta, s, labels, targets)
        self.sums += part
        self.weight += float(len(predictions) if s is None else np.sum(s))
        for mine, theirs in zip(self.bins, bin_sums(c, o, w, self.n_bins), strict=True):
            mine += theirs

    def absorb(self, other: _TemperaturePass) -> None:
        self.sums += other.sums
        self.weight += other.weight
        for mine, theirs in zip(self.bins, other.bins, strict=True):
            mine += theirs

    def means(self) -> tuple[float, float, float]:
        mean = self.sums / self.weight
        return float(mean[0]), float(mean[1]), float(mean[2])


def _fit_temperature(
    src: Source,
    plan: ColumnPlan,
    converter: Converter,
    spec: LossSpec,
    acc: Accumulator,
    settings: Settings,
    first: _TemperaturePass,
) -> dict[str, Any]:
    """Fit β* = 1/T* by safeguarded Newton steps, one pass over the input each (standard input
    was spooled to a temporary file when it was opened, so it reads again like a file)."""
    passes = 1  # the report's own pass, which summed β = 1 as well
    done = {1.0: first}

    def one_pass(beta: float) -> tuple[float, float, float]:
        nonlocal passes
        passes += 1
        state = _TemperaturePass(beta, acc.n_bins)
        for batch, row in _numbered(prefetch(src.batches(plan.read_columns, plan.float_columns))):
            typed = converter.convert(batch, row)
            n = len(typed)
            step = max(1, CHUNK_VALUES // max(typed.predictions.width, 1))

            def chunk(a: int, typed: TypedBatch = typed, step: int = step) -> _TemperaturePass:
                b = min(a + step, len(typed))
                predictions, _ = converter.predictions(typed, a, b, _workspace())
                part = _TemperaturePass(beta, acc.n_bins)
                part.add_chunk(
                    predictions,
                    spec,
                    None if typed.weights is None else typed.weights[a:b],
                    None if typed.labels is None else typed.labels[a:b],
                    None if typed.targets is None else typed.targets[a:b],
                )
                return part

            starts = range(0, n, step)
            parts = map(chunk, starts) if _threads() == 1 else _executor().map(chunk, starts)
            for part in parts:  # in row order: the sums do not depend on the thread count
                state.absorb(part)
        done[beta] = state
        return state.means()

    if acc.metric_sum("correct") >= acc.weight and not _soft(converter, spec):
        # Every row's true class has the top score: CE falls for ever as β grows (β* = ∞, a
        # temperature of 0). One pass at a large β gives CE and ECE at that limit.
        beta = 2.0**20
        value = one_pass(beta)[0]
        fit = TemperatureFit(np.inf, value, 0, True, beta)
    else:
        fit = fit_beta(one_pass, first.means())
    divisor = settings.base_divisor
    cross_entropy = acc.metric_sum("cross_entropy") / acc.weight
    after = ece_from_bins(*done[fit.evaluated_beta].bins)
    if fit.beta == np.inf:
        note = (
            "every row's true class has the top score: the cross-entropy falls towards its "
            "limit as the temperature goes to 0"
        )
    elif fit.beta == 0.0:
        note = (
            "the scores point away from the labels: the cross-entropy is least with all "
            "classes equal, an infinite temperature"
        )
    else:
        note = ""
    return {
        "metrics": {
            "temperature": np.inf if fit.beta == 0.0 else 1.0 / fit.beta,
            "cross_entropy_calibration": (cross_entropy - fit.cross_entropy) / divisor,
            "cross_entropy_refinement": fit.cross_entropy / divisor,
            "ece_after_temperature": after,
        },
        "beta": fit.beta,
        "passes": passes,
        "iterations": fit.steps,
        "converged": fit.converged,
        **({"note": note} if note else {}),
    }


def temperature_chunk(
    predictions: np.ndarray,
    spec: LossSpec,
    beta: float,
    weight: np.ndarray | None,
    labels: np.ndarray | None,
    targets: np.ndarray | None,
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
    """A chunk's CE sums at β and its top-label events after scaling, for ECE."""
    s = None if weight is None else np.asarray(weight, dtype=np.float64)
    if spec.task == MULTICLASS:
        z = log_inputs(predictions, spec.logits, spec.eps)
        sums, confidence, top = temperature_sums(z, beta, s, labels=labels, targets=targets)
        truth = labels if labels is not None else np.argmax(np.asarray(targets), axis=1)
        return sums, (confidence, (top == truth).astype(np.float64), s)
    z = two_class_logits(predictions, spec.logits, spec.eps)
    y = np.asarray(labels if labels is not None else targets, dtype=np.float64)
    if spec.task != MULTILABEL:
        z, y = z.reshape(-1), y.reshape(-1)
    sums = temperature_sums_two_class(z, beta, s, y)
    q = np.exp(-np.logaddexp(0.0, -beta * z))
    if z.ndim == 2:
        w = None if s is None else np.repeat(s, z.shape[1])
        return sums, (q.reshape(-1), y.reshape(-1), w)
    return sums, (q, y, s)


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
    if per_sample is not None:
        from ce_cli.atomic import refuse_inputs_as_outputs

        inputs = [p for p in (source, settings.labels_file) if isinstance(p, str) and p != "-"]
        refuse_inputs_as_outputs({"per_sample": per_sample}, inputs)
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
    plan = converter.plan  # the decision may narrow the prediction columns
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
    temperature = _TemperaturePass(1.0, settings.bins) if settings.fit_temperature else None
    try:
        for batch, first in _numbered(stream):
            typed = converter.convert(batch, first)
            acc.ignored_rows += typed.ignored
            acc.dropped_rows += typed.dropped
            in_batch = None
            if plan.sequence is not None:
                in_batch = BatchSequences(batch.column(plan.sequence), first, plan.sequence)
            batches = _evaluate_batch(
                typed, spec, converter, acc, keep_values, deferred, boot, temperature
            )
            for values, a, b in batches:
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
            columns_reason=plan.columns_reason,
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
        if settings.fit_temperature:
            assert temperature is not None
            fitted = _fit_temperature(src, plan, converter, spec, acc, settings, temperature)
            metrics = {**report.metrics, **fitted.pop("metrics")}
            report = dataclasses.replace(report, metrics=metrics)
            extra["temperature"] = fitted
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
