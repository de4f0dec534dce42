"""The kernel: a record batch's typed rows evaluated in tasks on this process's thread pool, each
task summed into an accumulator of its own (or deferred, for a few wide rows) and added in row
order, with the bootstrap, classwise bins and per-sample groups fed alongside."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from ce_cli.core.calibration import probabilities
from ce_cli.core.classwise import ClasswisePart, ClasswiseSums, classwise_part, column_totals
from ce_cli.core.persample import evaluate_rows
from ce_cli.core.picks import Picks, ScaledPicks, classwise_threshold
from ce_cli.core.sample_values import MULTICLASS, MULTILABEL, LossSpec, SampleValues, concat_values
from ce_cli.core.workspace import Workspace
from ce_cli.engine.state import TemperatureSums
from ce_cli.resolve.converter import Converter
from ce_cli.resolve.typed import TypedBatch
from ce_cli.state.accumulator import Accumulator, classwise_of_values
from ce_cli.state.bootstrap import BootstrapAccumulator

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


# Multi-label chunks: small enough to stay in cache through the per-label passes and bins.
LABEL_CHUNK_VALUES = 1 << 16


DEFERRED_ROWS = 1024


# Classwise bins of at most this many cells (classes × bins) are folded into dense sums on the
# worker; more (a vocabulary) travel sparse to the accumulator, never C × B per task.
DENSE_CLASSWISE_CELLS = 1 << 16


_pool: ThreadPoolExecutor | None = None


# One scratch workspace per thread that evaluates chunks (a workspace is never shared).
_thread_state = threading.local()


# Receives each group of evaluated rows in row order: values, row numbers, ids, sample weights.
Sink = Callable[
    [
        SampleValues,
        NDArray[np.int64],
        pa.Array | None,
        NDArray[np.float64] | None,
        pa.Array | None,
    ],
    None,
]


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


def kernel(
    typed: TypedBatch,
    spec: LossSpec,
    converter: Converter,
    acc: Accumulator,
    keep_values: bool,
    deferred: _DeferredUpdates | None = None,
    boot: _Bootstrap | None = None,
    temperature: TemperatureSums | None = None,
    parallel: bool = True,
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
    if spec.task == MULTILABEL:
        # An even number of tasks: a multi-label batch of 2.1 million values made three, and
        # two cores then waited a third of each batch for its last task.
        n_tasks += n_tasks % 2 if n_tasks > 1 else 0
        chunk_rows = max(1, LABEL_CHUNK_VALUES // width)
    task_rows = max(1, -(-n // n_tasks))
    if converter.rows_in_place(typed):
        step = task_rows
    else:  # whole chunks, the last one of the batch excepted
        step = chunk_rows
        task_rows = -(-task_rows // chunk_rows) * chunk_rows
    tasks = [(a, min(a + task_rows, n)) for a in range(0, n, task_rows)]
    own_accumulators = task_rows >= MIN_ACCUMULATOR_ROWS
    # Multi-label tasks of many events fold each chunk into a full part (fine histogram and
    # classwise bins too: cheap against the events) on the worker, while it is in cache.
    fused = (
        spec.task == MULTILABEL
        and own_accumulators
        and task_rows * width >= MIN_TASK_VALUES
        and acc.detail
        and acc.n_classes * acc.n_bins <= DENSE_CLASSWISE_CELLS
    )
    need_values = keep_values or boot is not None
    batch_deferred = None
    if not own_accumulators and deferred is None:
        deferred = batch_deferred = _DeferredUpdates(acc)

    def run(
        task: tuple[int, int],
    ) -> tuple[
        SampleValues | None,
        Accumulator | None,
        int,
        BootstrapAccumulator | None,
        TemperatureSums | None,
        list[ClasswisePart | ClasswiseSums],
    ]:
        workspace = _workspace()
        scaled = None if temperature is None else TemperatureSums(1.0, acc.n_bins)
        chunks = []
        renormalized = 0
        weights = None if typed.weights is None else typed.weights[task[0] : task[1]]
        classwise: list[ClasswisePart | ClasswiseSums] = []
        fused_part = Accumulator(acc.task, acc.n_classes, acc.n_bins) if fused else None
        # Multi-class rows with hard labels and at least 2B classes: the task's picks (the
        # probabilities at or above 1/B) and class totals are gathered chunk by chunk and binned
        # once per task (the per-chunk bookkeeping was a good part of their cost).
        gathered = None
        if _gather_applies(spec, typed, acc.n_bins):
            gathered = ScaledPicks(
                task[1] - task[0], typed.predictions.width, classwise_threshold(acc.n_bins), weights
            )
        for a in range(task[0], task[1], step):
            b = min(a + step, task[1])
            predictions, renormalized_rows = converter.predictions(typed, a, b, workspace)
            renormalized += renormalized_rows
            chunk_weights = None if typed.weights is None else typed.weights[a:b]
            # Probabilities: the picks are found first, while the converter's copy is in cache,
            # and the kernel reads each row's argmax from them; logits: the kernel hands its
            # exponentials on (q = e / s), no second softmax; logits against soft targets are
            # softmaxed and binned first.
            picks = totals = None
            if spec.task == MULTICLASS and not spec.logits:
                picks = Picks(predictions, classwise_threshold(acc.n_bins))
                if not picks.every or gathered is not None:  # while the chunk is hot
                    totals = column_totals(predictions, chunk_weights)
                if gathered is not None:
                    gathered.take(picks, totals, a - task[0])
            if gathered is not None:
                gathered.offset = a - task[0]
            early = spec.task == MULTICLASS and spec.logits and typed.labels is None
            part_classwise = (
                _classwise_chunk(predictions, typed, spec, a, b, acc.n_bins, None)
                if early
                else None
            )
            chunk_values = evaluate_rows(
                predictions,
                spec,
                labels=None if typed.labels is None else typed.labels[a:b],
                targets=None if typed.targets is None else typed.targets[a:b],
                workspace=workspace,
                picks=picks,
                scaled_picks=gathered if spec.logits else None,
            )
            if fused_part is not None:
                fused_part.update(chunk_values, chunk_weights)
            if fused_part is None or need_values:
                chunks.append(chunk_values)
            if spec.task == MULTICLASS and not early and gathered is None:
                part_classwise = _classwise_chunk(
                    predictions, typed, spec, a, b, acc.n_bins, chunks[-1], picks, totals
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
        if fused_part is not None:
            fused_part.renormalized_rows = renormalized
            kept = concat_values(chunks) if need_values else None
            replicates = None if boot is None or kept is None else boot.part()
            if replicates is not None and kept is not None:
                replicates.update(kept, typed.rows.array(*task), weights)
            return kept, fused_part, renormalized, replicates, scaled, []
        values = concat_values(chunks)
        if gathered is not None:
            assert typed.labels is not None and values.true_prob is not None
            gathered_part = classwise_part(
                None,
                weights,
                acc.n_bins,
                labels=typed.labels[task[0] : task[1]],
                row_squares=np.zeros(0),
                picks=gathered.picks(),
                true_prob=values.true_prob,
                class_totals=gathered.totals,
            )
            classwise.append(_with_squares(gathered_part, values, typed, *task))
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

    serial = len(tasks) == 1 or not parallel or _threads() == 1
    results = map(run, tasks) if serial else _executor().map(run, tasks)
    parts: list[SampleValues] = []
    fine: list[tuple[SampleValues, NDArray[np.float64] | None]] = []  # the batch's, at its end
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
            if not part.detail:  # a fused part brings its fine histogram along
                assert values is not None
                fine.append((values, w))
        else:
            assert deferred is not None and values is not None
            deferred.add(values, w)
            acc.renormalized_rows += renormalized
        if keep_values:
            assert values is not None
            parts.append(values)
        if stop - start >= GROUP_ROWS or stop == n:
            yield (concat_values(parts) if keep_values else None), start, stop
            parts, start = [], stop
    acc.update_fine_all(fine)
    if batch_deferred is not None:
        batch_deferred.flush()


def _gather_applies(spec: LossSpec, typed: TypedBatch, n_bins: int) -> bool:
    """Whether a task's classwise picks are gathered chunk by chunk (:class:`ScaledPicks`) and
    binned once: multi-class rows with hard labels and at least ``2B`` classes. A row holds at
    most ``B`` probabilities of ``1/B`` or more, so the picks are never the larger part (which
    is binned one by one, chunk by chunk); from logits the kernel hands its exponentials on."""
    return (
        spec.task == MULTICLASS
        and typed.labels is not None
        and len(typed) > 0
        and typed.predictions.width >= 2 * n_bins
    )


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
    picks: Picks | None = None,
    totals: NDArray[np.float64] | None = None,
) -> ClasswisePart:
    """The classwise-view bin sums of multi-class rows ``a:b`` (all classes' probabilities);
    with hard labels ``square`` is left to the caller, who has it from the Brier score.
    Probabilities come with their ``picks`` and, from the kernel, each row's true-class
    probability.

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
            true_prob = None
        else:
            q = probabilities(predictions, spec.logits)
            true_prob = None if values is None or spec.logits else values.true_prob
        return classwise_part(
            q,
            weights,
            n_bins,
            labels=typed.labels[a:b],
            row_squares=np.zeros(0),
            picks=picks,
            true_prob=true_prob,
            class_totals=totals,
        )
    return classwise_part(
        probabilities(predictions, spec.logits),
        weights,
        n_bins,
        targets=None if typed.targets is None else typed.targets[a:b],
        picks=picks,
        class_totals=totals,
    )
