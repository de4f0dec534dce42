"""The mergeable accumulator: everything the report needs, as fixed-size float64 sums.

One file, a stream larger than memory, several processes or a Dask cluster all reduce the same
way: ``update`` folds in a batch's :class:`~ce_cli.core.sample_values.SampleValues`, ``merge``
adds two accumulators, and ``update(A); update(B)`` equals ``merge(update(A), update(B))`` for every
statistic. The state never grows with the number of rows:

* sample-weighted sums of every per-sample metric, and the loss mean's denominator;
* per class (per label for multi-label): counts, weights and sums of loss, cross-entropy,
  correctness, confidence and true-class probability, and how often it was predicted;
* the ``--bins`` equal-width calibration bins of the top-label view (exact ECE, MCE, RMSCE,
  debiased RMSCE, overconfidence), and the same bins per class for the classwise view (classwise
  ECE, Murphy's Brier decomposition with three totals for its within-bin terms);
* a fine histogram of the top-label confidences (``FINE_CELLS`` = 2^16 cells over (0, 1), a cell
  each for exactly 0 and exactly 1, each with its minimum and maximum), from which equal-mass bins
  and the smooth ECE are read to within 2e-4 of the sort-based values;
* a log-spaced histogram of the per-sample loss (``LOSS_BINS_PER_DECADE`` bins a decade) with the
  exact minimum and maximum, from which quantiles are read to within ±0.6 % relative.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ce_cli.core.calibration import bin_index, indexed_sum, weighted_bin_sums
from ce_cli.core.classwise import ClasswisePart, ClasswiseSums, classwise_part
from ce_cli.core.equal_mass import FINE_SIZE, fine_histogram_update
from ce_cli.core.label_bins import label_bin_sums, label_events
from ce_cli.core.persample import true_positive
from ce_cli.core.sample_values import BINARY, MULTILABEL, SampleValues

Float = NDArray[np.float64]

LOSS_LOG10_MIN = -12.0
LOSS_LOG10_MAX = 4.0
LOSS_BINS_PER_DECADE = 200
# One bin for losses below 10^LOSS_LOG10_MIN (including 0), then the log-spaced bins, then overflow.
LOSS_BINS = int((LOSS_LOG10_MAX - LOSS_LOG10_MIN) * LOSS_BINS_PER_DECADE) + 2

SCALAR_METRICS = (
    "loss",
    "cross_entropy",
    "entropy",
    "label_entropy",
    "kl_divergence",
    "brier",
    "correct",
    "exact_match",
)


def loss_bin_index(loss: Float) -> NDArray[np.intp]:
    """Bin of each non-negative loss in the log-spaced loss histogram."""
    # Losses below 1e-300 (0 included) land far below the first log-spaced bin: bin 0.
    position = np.log10(np.maximum(loss, 1e-300))
    position -= LOSS_LOG10_MIN
    position *= LOSS_BINS_PER_DECADE
    index = np.floor(position).astype(np.intp)
    index += 1
    return np.clip(index, 0, LOSS_BINS - 1, out=index)


def loss_bin_bounds(index: Any) -> tuple[Any, Any]:
    """Lower and upper loss of a bin (or an array of bins) of the loss histogram."""
    index = np.asarray(index)
    with np.errstate(invalid="ignore"):
        lower = np.where(
            index == 0, 0.0, 10.0 ** (LOSS_LOG10_MIN + (index - 1) / LOSS_BINS_PER_DECADE)
        )
        upper = np.where(
            index == 0,
            10.0**LOSS_LOG10_MIN,
            np.where(
                index < LOSS_BINS - 1,
                10.0 ** (LOSS_LOG10_MIN + index / LOSS_BINS_PER_DECADE),
                np.inf,
            ),
        )
    return lower, upper


def _zeros(n: int) -> Float:
    return np.zeros(n, dtype=np.float64)


@dataclass
class Accumulator:
    """Fixed-size sums for one task with ``n_classes`` classes (labels) and ``n_bins`` bins."""

    task: str
    n_classes: int
    n_bins: int
    # Groups (--group-col) keep no fine histogram and no classwise bins: memory stays bounded.
    detail: bool = True
    # A worker's part leaves the fine histogram to the accumulator it is absorbed into
    # (update_fine, in row order): 2.6 MB of fresh cells per task cost more than the events.
    fine: bool = True
    rows: int = 0
    classwise_rows: int = 0
    clipped_rows: int = 0
    ignored_rows: int = 0
    dropped_rows: int = 0
    renormalized_rows: int = 0
    weight: float = 0.0
    loss_denominator: float = 0.0
    sums: Float = field(default_factory=lambda: _zeros(len(SCALAR_METRICS)))
    class_rows: Float = field(init=False)
    class_weight: Float = field(init=False)
    class_loss: Float = field(init=False)
    class_loss_denominator: Float = field(init=False)
    class_cross_entropy: Float = field(init=False)
    class_correct: Float = field(init=False)
    class_confidence: Float = field(init=False)
    class_true_prob: Float = field(init=False)
    class_predicted: Float = field(init=False)
    bin_weight: Float = field(init=False)
    bin_confidence: Float = field(init=False)
    bin_outcome: Float = field(init=False)
    bin_rows: Float = field(init=False)
    fine_weight: Float = field(init=False)
    fine_confidence: Float = field(init=False)
    fine_outcome: Float = field(init=False)
    fine_low: Float = field(init=False)
    fine_high: Float = field(init=False)
    classwise_weight: Float = field(init=False)
    classwise_confidence: Float = field(init=False)
    classwise_outcome: Float = field(init=False)
    # Σ s c², Σ s c o, Σ s o(1 − o) over the events of Murphy's decomposition (the classwise view;
    # binary: q against y).
    murphy_sums: Float = field(default_factory=lambda: _zeros(3))
    loss_histogram: Float = field(init=False)
    loss_min: float = float("inf")
    loss_max: float = float("-inf")

    def __post_init__(self) -> None:
        for name in _class_fields():
            setattr(self, name, _zeros(self.n_classes))
        for name in ("bin_weight", "bin_confidence", "bin_outcome", "bin_rows"):
            setattr(self, name, _zeros(self.n_bins))
        fine = FINE_SIZE if self.detail and self.fine else 0
        for name in ("fine_weight", "fine_confidence", "fine_outcome"):
            setattr(self, name, _zeros(fine))
        self.fine_low = np.full(fine, np.inf)
        self.fine_high = np.full(fine, -np.inf)
        shape = (self.n_classes, self.n_bins) if self.detail else (0, self.n_bins)
        for name in ("classwise_weight", "classwise_confidence", "classwise_outcome"):
            setattr(self, name, np.zeros(shape))
        self.loss_histogram = _zeros(LOSS_BINS)

    def update(
        self,
        values: SampleValues,
        sample_weight: Float | None = None,
        classwise: ClasswisePart | None = None,
    ) -> None:
        """Fold one batch in. ``sample_weight`` of ``None`` weighs every row 1.

        Multi-class rows carry only their top-label view; the classwise view needs every class's
        probability, which the caller sums with :func:`~ce_cli.core.classwise.classwise_part`
        and hands in as ``classwise`` (without it, these rows are left out of the classwise
        estimators and the report says so). Binary and multi-label rows carry all they need.
        """
        n = values.loss.shape[0]
        if n == 0:
            return
        s = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        self.rows += n
        self.clipped_rows += int(np.count_nonzero(values.clipped))
        self.weight += float(n if s is None else s.sum())
        d = _weighted(s, values.loss_weight)
        self.loss_denominator += float(n if d is None else d.sum())
        summed: dict[int, float] = {}  # loss, cross-entropy and KL are often one array
        for k, name in enumerate(SCALAR_METRICS):
            column = getattr(values, name)
            if column is not None:
                if id(column) not in summed:
                    summed[id(column)] = float(column.sum() if s is None else _dot(s, column))
                self.sums[k] += summed[id(column)]
        if self.task == MULTILABEL:
            self._update_labels(values, s)
            self._update_label_calibration(values, s)
        else:
            self._update_classes(values, s, d)
            self._update_calibration(values, s)
            if self.detail:
                self._update_classwise(values, s, classwise)
        loss_index = loss_bin_index(values.loss)
        self.loss_histogram += indexed_sum(loss_index, s, LOSS_BINS)
        self.loss_min = min(self.loss_min, float(values.loss.min()))
        self.loss_max = max(self.loss_max, float(values.loss.max()))

    def _update_classes(self, values: SampleValues, s: Float | None, d: Float | None) -> None:
        assert values.true_class is not None and values.predicted is not None
        assert values.true_prob is not None
        t, c = values.true_class, self.n_classes

        def by_class(per_row: Float | None) -> Float:
            return indexed_sum(t, per_row, c)

        rows = by_class(None)
        self.class_rows += rows
        self.class_weight += rows if s is None else by_class(s)
        loss = by_class(_weighted(s, values.loss))
        self.class_loss += loss
        self.class_loss_denominator += rows if d is None else by_class(d)
        if values.cross_entropy is values.loss:  # plain cross-entropy: the same sums
            self.class_cross_entropy += loss
        else:
            self.class_cross_entropy += by_class(_weighted(s, values.cross_entropy))
        self.class_correct += by_class(_weighted(s, values.correct))
        self.class_confidence += by_class(_weighted(s, values.confidence))
        self.class_true_prob += by_class(_weighted(s, values.true_prob))
        self.class_predicted += indexed_sum(values.predicted, s, c)

    def _update_labels(self, values: SampleValues, s: Float | None) -> None:
        assert values.label_y is not None and values.label_q is not None
        assert values.label_loss is not None and values.label_ce is not None
        assert values.label_correct is not None
        assert values.label_true_prob is not None and values.label_predicted is not None
        y = values.label_y
        if s is None:
            s = np.ones(values.loss.shape[0])
        self.class_rows += true_positive(y).sum(axis=0)  # the core's rule for a true label
        self.class_weight += _dot(s, y)
        self.class_loss += _dot(s, values.label_loss)
        self.class_loss_denominator += float(s.sum())
        self.class_cross_entropy += _dot(s, values.label_ce)
        self.class_correct += _dot(s, values.label_correct)
        self.class_confidence += _dot(s, values.label_q)
        self.class_true_prob += _dot(s, values.label_true_prob)
        self.class_predicted += _dot(s, values.label_predicted)

    def _update_calibration(self, values: SampleValues, s: Float | None) -> None:
        conf, hit, w = values.calib_conf, values.calib_hit, s
        index = bin_index(conf, self.n_bins)
        total, conf_sum, hit_sum = weighted_bin_sums(index, conf, hit, w, self.n_bins)
        self.bin_weight += total
        self.bin_confidence += conf_sum
        self.bin_outcome += hit_sum
        self.bin_rows += total if w is None else indexed_sum(index, None, self.n_bins)
        if self.detail and self.fine:
            self._update_fine(conf, hit, w)

    def _update_label_calibration(self, values: SampleValues, s: Float | None) -> None:
        """Multi-label: every (row, label) event binned once for the top-label bins, the
        classwise bins (the same events by label) and the fine histogram."""
        q, y = values.label_q, values.label_y
        assert q is not None and y is not None
        events = label_events(q, y, s)
        # Dense (labels × bins) sums cost their cells on every update: binned with the top-label
        # bins where the events are at least as many; else sparse (classwise_part).
        dense = self.detail and self.n_classes * self.n_bins <= max(q.size, 1 << 16)
        hard = values.label_entropy is None  # every target 0 or 1
        top, sums = label_bin_sums(q, y, s, self.n_bins, classwise=dense, hard=hard, events=events)
        self.bin_weight += top[0]
        self.bin_confidence += top[1]
        self.bin_outcome += top[2]
        self.bin_rows += top[3]
        if sums is not None:
            self.add_classwise(sums, values.loss.shape[0])
        elif self.detail:
            self._update_classwise(values, s, None)
        if self.detail and self.fine:
            self._update_fine(events[0], events[1], events[2])

    def update_fine(self, values: SampleValues, sample_weight: Float | None = None) -> None:
        """Fold a batch's top-label events into the fine histogram only (for an accumulator that
        absorbs parts made with ``fine=False``)."""
        self.update_fine_all([(values, sample_weight)])

    def update_fine_all(self, parts: Sequence[tuple[SampleValues, Float | None]]) -> None:
        """:meth:`update_fine` of several consecutive batches (values, sample weights) at once:
        the same events in the same order, folded in one pass (a whole input batch's events
        are as many as the histogram's cells, where one ``bincount`` beats ``np.add.at``)."""
        events = [_fine_events(values, w) for values, w in parts]
        if not events:
            return
        conf = np.concatenate([e[0] for e in events]) if len(events) > 1 else events[0][0]
        hit = np.concatenate([e[1] for e in events]) if len(events) > 1 else events[0][1]
        w = None
        if any(e[2] is not None for e in events):
            w = np.concatenate([np.ones(e[0].shape[0]) if e[2] is None else e[2] for e in events])
        self._update_fine(conf, hit, w)

    def _update_fine(self, conf: Float, hit: Float, w: Float | None) -> None:
        fine = (self.fine_weight, self.fine_confidence, self.fine_outcome)
        fine_histogram_update((*fine, self.fine_low, self.fine_high), conf, hit, w)

    def _update_classwise(
        self, values: SampleValues, s: Float | None, classwise: ClasswisePart | None
    ) -> None:
        part = classwise
        if part is None:
            part = classwise_of_values(self.task, values, s, self.n_bins)
        if part is not None:
            self.add_classwise(part, values.loss.shape[0])

    def add_classwise(self, part: ClasswisePart | ClasswiseSums, rows: int) -> None:
        """Fold the classwise-view sums of ``rows`` rows in (for an accumulator that absorbs
        parts made with ``detail=False``, in row order): sparse, or already dense."""
        if isinstance(part, ClasswiseSums):
            self.classwise_weight += part.weight
            self.classwise_confidence += part.confidence
            self.classwise_outcome += part.outcome
        else:
            part.fold(self.classwise_weight, self.classwise_confidence, self.classwise_outcome)
        self.murphy_sums += (part.square, part.cross, part.target_spread)
        self.classwise_rows += rows

    def absorb(self, other: Accumulator) -> None:
        """Add ``other``'s sums into this one, in place (``other`` is left as it was)."""
        if (self.task, self.n_classes, self.n_bins) != (other.task, other.n_classes, other.n_bins):
            raise ValueError("cannot merge accumulators of different tasks, classes or bins")
        if other.detail and not self.detail:
            raise ValueError("an accumulator without detail cannot take one with it")
        for name in _SUMMED_FIELDS:
            theirs = getattr(other, name)
            if isinstance(theirs, np.ndarray) and theirs.size == 0 and name != "sums":
                continue  # a part without the fine histogram or classwise bins
            setattr(self, name, getattr(self, name) + getattr(other, name))
        if other.fine_low.size:
            self.fine_low = np.minimum(self.fine_low, other.fine_low)
            self.fine_high = np.maximum(self.fine_high, other.fine_high)
        self.loss_min = min(self.loss_min, other.loss_min)
        self.loss_max = max(self.loss_max, other.loss_max)

    def merge(self, other: Accumulator) -> Accumulator:
        """A new accumulator holding both (the inputs are left as they were)."""
        out = Accumulator(self.task, self.n_classes, self.n_bins, self.detail)
        out.absorb(self)
        out.absorb(other)
        return out

    def metric_sum(self, name: str) -> float:
        """The sample-weighted sum of one of :data:`SCALAR_METRICS`."""
        return float(self.sums[SCALAR_METRICS.index(name)])

    def loss_quantile(self, fraction: float) -> float:
        """The loss below which ``fraction`` of the sample weight lies (geometric bin midpoint)."""
        hist = self.loss_histogram[:, None]
        return float(histogram_quantiles(hist, self.loss_min, self.loss_max, [fraction])[0, 0])


def histogram_quantiles(histogram: Float, low: Any, high: Any, fractions: Sequence[float]) -> Float:
    """Per fraction and per column of ``histogram`` (loss bins × columns), the loss below which
    that fraction of the column's weight lies: the geometric midpoint of its bin, held within the
    smallest and largest loss (``low``, ``high``, per column), which are the answers for the
    fractions 0 and 1. NaN for an empty column. The report asks with one column, the bootstrap
    with one per replicate.

    >>> h = np.zeros((LOSS_BINS, 1)); h[loss_bin_index(np.array([0.5, 2.0])), 0] = 1.0
    >>> histogram_quantiles(h, 0.5, 2.0, [0.0, 0.5, 1.0])[:, 0].tolist()
    [0.5, 0.500593264850453, 2.0]
    """
    filled = np.flatnonzero(histogram.any(axis=1))  # empty bins change no cumulative sum
    cumulative = np.cumsum(histogram[filled], axis=0)
    total = cumulative[-1] if filled.size else np.zeros(histogram.shape[1])
    low = np.broadcast_to(np.asarray(low, dtype=np.float64), total.shape)
    high = np.broadcast_to(np.asarray(high, dtype=np.float64), total.shape)
    out = np.empty((len(fractions), total.shape[0]))
    for k, fraction in enumerate(fractions):
        if fraction <= 0:
            out[k] = low
        elif fraction >= 1:
            out[k] = high
        else:
            # searchsorted(side="left") per column: the first bin reaching the fraction.
            below = (cumulative < fraction * total).sum(axis=0)
            index = filled[np.minimum(below, max(filled.size - 1, 0))] if filled.size else below
            lower, upper = loss_bin_bounds(np.minimum(index, LOSS_BINS - 1))
            lower, upper = np.maximum(lower, low), np.minimum(upper, high)
            with np.errstate(invalid="ignore"):
                estimate = np.where(lower > 0, np.sqrt(lower * upper), upper)
            out[k] = np.minimum(np.maximum(estimate, low), high)
    return np.where(total > 0, out, np.nan)


def classwise_of_values(
    task: str, values: SampleValues, s: Float | None, n_bins: int
) -> ClasswisePart | None:
    """The classwise-view sums that binary and multi-label rows carry themselves (``None`` for
    multi-class rows, whose other classes' probabilities are not in ``values``). Binary: the
    two classes, with Murphy's totals over ``q`` against ``y`` alone."""
    if task == MULTILABEL:
        assert values.label_q is not None and values.label_y is not None
        return classwise_part(values.label_q, s, n_bins, targets=values.label_y)
    if task != BINARY:
        return None
    q, y = values.calib_conf, values.calib_hit
    assert values.calib_not_conf is not None  # the core's 1 − q (σ(−z) from logits)
    both = classwise_part(
        np.stack([values.calib_not_conf, q], axis=1),
        s,
        n_bins,
        targets=np.stack([1.0 - y, y], axis=1),
    )
    both.square = float(np.sum(q * q) if s is None else _dot(s, q * q))
    both.cross = float(np.sum(q * y) if s is None else _dot(s, q * y))
    both.target_spread = float(np.sum(y * (1.0 - y)) if s is None else _dot(s, y * (1.0 - y)))
    return both


def _fine_events(values: SampleValues, w: Float | None) -> tuple[Float, Float, Float | None]:
    """A batch's top-label events (every label's, multi-label) as flat confidence, outcome and
    weight arrays."""
    conf, hit = values.calib_conf, values.calib_hit
    if conf.ndim == 2:  # in memory order: stacked columns are not copied
        conf, hit, w, _ = label_events(conf, hit, w)
    return conf, hit, None if w is None else np.asarray(w, dtype=np.float64)


def _dot(s: Float, values: NDArray[np.generic]) -> Float:
    """``Σ_i s_i values_i`` (per column for a matrix) without BLAS, which splits long dots over
    its own threads and would make the sums' last bits depend on OPENBLAS_NUM_THREADS.

    A column's products are summed pairwise (``np.sum``): about 1e-16 relative on a million
    rows, where ``einsum``'s running sum lost 1.4e-14, which ``exp`` multiplies by the
    cross-entropy (up to 709) in the perplexity.
    """
    v: Float = values.astype(np.float64, copy=False)
    if v.ndim == 1:
        return np.asarray(np.sum(s * v), dtype=np.float64)
    return np.asarray(np.einsum("i,ij->j", s, v), dtype=np.float64)


def _weighted(s: Float | None, per_row: Float | None) -> Float | None:
    """``s * per_row``, where ``None`` stands for a column of ones."""
    if s is None:
        return per_row
    return s if per_row is None else s * per_row


def _class_fields() -> tuple[str, ...]:
    return tuple(f.name for f in fields(Accumulator) if f.name.startswith("class_"))


_SUMMED_FIELDS = tuple(
    f.name
    for f in fields(Accumulator)
    if f.name
    not in (
        "task",
        "n_classes",
        "n_bins",
        "detail",
        "fine",
        "loss_min",
        "loss_max",
        "fine_low",
        "fine_high",
    )
)
