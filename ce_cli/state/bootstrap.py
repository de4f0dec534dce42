"""Poisson bootstrap that streams and merges: confidence intervals for every report metric.

Each row ``i`` gets, for replicate ``r``, the weight ``b_ir ~ Poisson(1)`` (the streaming
bootstrap of Hanley & MacGibbon, 2006, used for online bagging). The weight is a pure function of
``(seed, global row index, r)`` — a splitmix64 hash turned into a Poisson(1) draw by its inverse
CDF — so the replicates do not depend on how the input was batched, and two accumulators over
disjoint row ranges merge by addition. State is fixed-size: per replicate, the weighted sums of
the per-sample metrics and the calibration bins. Every metric of the registry
(:mod:`ce_cli.report.registry`) finished from those sums or bins gets an interval, by the same
finishing function as the report; the others say in the registry why not (``no_interval``), and
``--gate-on-interval`` refuses them.

Intervals are percentile intervals of the replicate metrics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ce_cli.core.calibration import bin_index
from ce_cli.core.sample_values import SampleValues
from ce_cli.report.registry import BY_NAME, METRICS, finish_bins, finish_sums
from ce_cli.state.accumulator import LOSS_BINS, histogram_quantiles, loss_bin_index

Float = NDArray[np.float64]

# Per-sample sums kept per replicate, in this order (the loss has its own denominator).
_SUMS = (
    "weight",
    "loss",
    "loss_denominator",
    "cross_entropy",
    "entropy",
    "label_entropy",
    "kl_divergence",
    "brier",
    "correct",
    "exact_match",
)

# Poisson(1) cumulative probabilities: k = number of CDF values below u.
_POISSON1_CDF = np.cumsum([math.exp(-1.0) / math.factorial(k) for k in range(20)])
# The same thresholds on the 53-bit integer m of u = m / 2^53: u >= CDF_j exactly when
# m >= ceil(CDF_j * 2^53) (a power-of-two scaling, exact), so k counts integer comparisons.
_POISSON1_THRESHOLDS = np.ceil(_POISSON1_CDF * 2.0**53).astype(np.uint64)
# k >= 4 has probability 1.9 %: those few draws are looked up, the rest counted in 4 passes.
_COUNTED = 4


def _splitmix64(x: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """The splitmix64 finaliser of ``x + golden`` (a new array; ``x`` is left as it was)."""
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
        return x


def poisson_weights(row_numbers: NDArray[np.int64], replicates: int, seed: int) -> Float:
    """The (rows × replicates) Poisson(1) weights of the given global row numbers.

    The inverse CDF of the uniform ``u = m / 2^53`` (``m`` the top 53 bits of the hash), done
    as integer comparisons in place: the same draws as ``searchsorted(CDF, u, 'right')``, about
    2.4 times faster.

    >>> w = poisson_weights(np.arange(200_000), 2, seed=1)
    >>> round(float(w.mean()), 2), round(float(w.var()), 2)
    (1.0, 1.0)
    """
    rows = np.asarray(row_numbers, dtype=np.uint64)[:, None]
    cols = np.arange(replicates, dtype=np.uint64)[None, :]
    with np.errstate(over="ignore"):
        key = rows * np.uint64(replicates) + cols + np.uint64(seed) * np.uint64(0xD1B54A32D192ED03)
    bits = _splitmix64(_splitmix64(key))
    bits >>= np.uint64(11)
    k = np.zeros(bits.shape, dtype=np.float64)
    for threshold in _POISSON1_THRESHOLDS[:_COUNTED]:
        k += bits >= threshold
    rare = np.flatnonzero(bits >= _POISSON1_THRESHOLDS[_COUNTED - 1])
    if rare.size:
        k.flat[rare] = np.searchsorted(_POISSON1_THRESHOLDS, bits.flat[rare], side="right")
    return k


# Rows × replicates handled at once: the Poisson weights and the bin sums of one chunk are this
# many float64 values (8 MB), whatever the batch, the labels or the replicates.
CHUNK_VALUES = 1 << 20


@dataclass
class BootstrapAccumulator:
    """Per-replicate sums of every metric, mergeable by ``+``.

    The state is ``replicates ×`` (the per-sample sums and the equal-width bins): it does not grow
    with the rows or the labels, and an update never holds more than :data:`CHUNK_VALUES` weights.
    """

    replicates: int
    n_bins: int
    seed: int = 0
    n_labels: int = 0  # set by the first update (multi-label: the labels; else 0)
    sums: Float = field(init=False)
    bin_weight: Float = field(init=False)
    bin_confidence: Float = field(init=False)
    bin_outcome: Float = field(init=False)
    loss_histogram: Float = field(init=False)
    loss_min: Float = field(init=False)
    loss_max: Float = field(init=False)

    def __post_init__(self) -> None:
        self.sums = np.zeros((len(_SUMS), self.replicates))
        self.bin_weight = np.zeros((self.n_bins, self.replicates))
        self.bin_confidence = np.zeros((self.n_bins, self.replicates))
        self.bin_outcome = np.zeros((self.n_bins, self.replicates))
        self.loss_histogram = np.zeros((LOSS_BINS, self.replicates))
        self.loss_min = np.full(self.replicates, np.inf)
        self.loss_max = np.full(self.replicates, -np.inf)

    def update(
        self, values: SampleValues, row_numbers: NDArray[np.int64], sample_weight: Float | None
    ) -> None:
        n = values.loss.shape[0]
        if n == 0:
            return
        if values.calib_conf.ndim == 2:
            self.n_labels = values.calib_conf.shape[1]
        step = max(1, CHUNK_VALUES // self.replicates)
        for a in range(0, n, step):
            self._update_rows(values, row_numbers, sample_weight, a, min(n, a + step))

    def _update_rows(
        self,
        values: SampleValues,
        row_numbers: NDArray[np.int64],
        sample_weight: Float | None,
        a: int,
        b: int,
    ) -> None:
        n = b - a
        rows = slice(a, b)
        w = poisson_weights(np.asarray(row_numbers)[rows], self.replicates, self.seed)
        drawn = w > 0  # the rows each replicate holds (min and max ignore the sample weights)
        if sample_weight is not None:
            w *= np.asarray(sample_weight, dtype=np.float64)[rows, None]
        ones = np.ones(n)

        def column(name: str) -> Float:
            if name == "weight":
                return ones
            if name == "loss_denominator":
                d = values.loss_weight
                return ones if d is None else d[rows]
            if name == "correct":
                return values.correct[rows]
            x = getattr(values, name)
            return np.zeros(n) if x is None else x[rows]

        self.sums += np.stack([column(name) for name in _SUMS]) @ w
        loss = values.loss[rows]
        (self.loss_histogram,) = _add_by_index(
            loss_bin_index(loss), LOSS_BINS, w, (self.loss_histogram,), (None,)
        )
        self.loss_min = np.minimum(self.loss_min, np.where(drawn, loss[:, None], np.inf).min(0))
        self.loss_max = np.maximum(self.loss_max, np.where(drawn, loss[:, None], -np.inf).max(0))
        conf, hit = values.calib_conf[rows], values.calib_hit[rows]
        if conf.ndim == 1:
            self._add_bins(conf, hit, w)
        else:  # multi-label: each label is an event with its row's weights
            for j in range(conf.shape[1]):
                self._add_bins(conf[:, j], hit[:, j], w)

    def _add_bins(self, conf: Float, hit: Float, w: Float) -> None:
        """Add one event per row (weights ``w``, rows × replicates) to the bins."""
        self.bin_weight, self.bin_confidence, self.bin_outcome = _add_by_index(
            bin_index(conf, self.n_bins),
            self.n_bins,
            w,
            (self.bin_weight, self.bin_confidence, self.bin_outcome),
            (None, conf, hit),
        )

    def merge(self, other: BootstrapAccumulator) -> BootstrapAccumulator:
        out = BootstrapAccumulator(
            self.replicates, self.n_bins, self.seed, max(self.n_labels, other.n_labels)
        )
        out.sums = self.sums + other.sums
        out.bin_weight = self.bin_weight + other.bin_weight
        out.bin_confidence = self.bin_confidence + other.bin_confidence
        out.bin_outcome = self.bin_outcome + other.bin_outcome
        out.loss_histogram = self.loss_histogram + other.loss_histogram
        out.loss_min = np.minimum(self.loss_min, other.loss_min)
        out.loss_max = np.maximum(self.loss_max, other.loss_max)
        return out

    def replicate_metrics(self, base_divisor: float) -> dict[str, Float]:
        """Each metric of the registry that has an interval, once per replicate (NaN where a
        replicate is empty): the same ``from_sums``/``from_bins`` the report uses."""
        sums: dict[str, Any] = dict(zip(_SUMS, self.sums, strict=True))
        sums["n_labels"] = self.n_labels
        with np.errstate(divide="ignore", invalid="ignore"):
            out: dict[str, Float] = finish_sums(sums, base_divisor, multilabel=self.n_labels > 0)
        for name in finish_bins(*self._bins(0)):
            metric = BY_NAME[name]
            assert metric.from_bins is not None
            out[name] = np.array(
                [metric.from_bins(*self._bins(r)) for r in range(self.replicates)],
                dtype=np.float64,
            )
        quantiles = [m for m in METRICS if m.fraction is not None]
        found = histogram_quantiles(
            self.loss_histogram,
            self.loss_min,
            self.loss_max,
            [m.fraction for m in quantiles if m.fraction is not None],
        )
        for m, row in zip(quantiles, found, strict=True):
            out[m.gate_name] = m.scale(row, base_divisor)
        return {m.gate_name: out[m.gate_name] for m in METRICS if m.gate_name in out}

    def _bins(self, r: int) -> tuple[Float, Float, Float]:
        return self.bin_weight[:, r], self.bin_confidence[:, r], self.bin_outcome[:, r]

    def intervals(self, level: float, base_divisor: float) -> dict[str, dict[str, Any]]:
        """Percentile intervals at ``level`` for every metric."""
        tail = (1.0 - level) / 2.0
        out: dict[str, dict[str, Any]] = {}
        for name, values in self.replicate_metrics(base_divisor).items():
            finite = values[np.isfinite(values)]
            if finite.size == 0:
                continue
            low, high = np.quantile(finite, [tail, 1.0 - tail])
            out[name] = {
                "low": float(low),
                "high": float(high),
                "level": level,
                "replicates": int(finite.size),
            }
        return out


def _add_by_index(
    index: NDArray[np.intp],
    n_bins: int,
    w: Float,
    into: tuple[Float, ...],
    factors: tuple[Float | None, ...],
) -> tuple[Float, ...]:
    """``into[k][b] += Σ_{i in bin b} w_i · factors[k]_i`` (``None``: 1) for each replicate,
    without a bins × rows matrix: the rows are sorted by bin and each bin's run summed."""
    order = np.argsort(index, kind="stable")
    counts = np.bincount(index, minlength=n_bins)
    filled = np.flatnonzero(counts)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])[filled]
    out = []
    for target, factor in zip(into, factors, strict=True):
        ws = w[order]
        if factor is not None:
            ws *= factor[order, None]
        target[filled] += np.add.reduceat(ws, starts, axis=0)
        out.append(target)
    return tuple(out)
