"""Poisson bootstrap that streams and merges: confidence intervals for every report metric.

Each row ``i`` gets, for replicate ``r``, the weight ``b_ir ~ Poisson(1)`` (the streaming
bootstrap of Hanley & MacGibbon, 2006, used for online bagging). The weight is a pure function of
``(seed, global row index, r)`` — a splitmix64 hash turned into a Poisson(1) draw by its inverse
CDF — so the replicates do not depend on how the input was batched, and two accumulators over
disjoint row ranges merge by addition. State is fixed-size: per replicate, the weighted sums of
the per-sample metrics and the calibration bins (so ECE, MCE, RMSCE, debiased RMSCE and
overconfidence get intervals; the classwise, equal-mass and smooth estimators do not).

Intervals are percentile intervals of the replicate metrics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ce_cli.core.calibration import (
    bin_index,
    debiased_rms_calibration_error_from_bins,
    ece_from_bins,
    mce_from_bins,
    overconfidence_from_bins,
    rms_calibration_error_from_bins,
)
from ce_cli.core.persample import SampleValues, take_rows

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
)
# Values (rows × replicates, or bins × rows) built at a time in an update: 16 MiB of float64.
UPDATE_VALUES = 1 << 21
_LOG_METRICS = ("loss", "cross_entropy", "entropy", "label_entropy", "kl_divergence")

# Poisson(1) cumulative probabilities: k = number of CDF values below u.
_POISSON1_CDF = np.cumsum([math.exp(-1.0) / math.factorial(k) for k in range(20)])


def _splitmix64(x: NDArray[np.uint64]) -> NDArray[np.uint64]:
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def poisson_weights(row_numbers: NDArray[np.int64], replicates: int, seed: int) -> Float:
    """The (rows × replicates) Poisson(1) weights of the given global row numbers.

    >>> w = poisson_weights(np.arange(200_000), 2, seed=1)
    >>> round(float(w.mean()), 2), round(float(w.var()), 2)
    (1.0, 1.0)
    """
    rows = np.asarray(row_numbers, dtype=np.uint64)[:, None]
    cols = np.arange(replicates, dtype=np.uint64)[None, :]
    with np.errstate(over="ignore"):
        key = rows * np.uint64(replicates) + cols + np.uint64(seed) * np.uint64(0xD1B54A32D192ED03)
    bits = _splitmix64(_splitmix64(key))
    uniform = (bits >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))
    return np.searchsorted(_POISSON1_CDF, uniform, side="right").astype(np.float64)


@dataclass
class BootstrapAccumulator:
    """Per-replicate sums of every metric, mergeable by ``+``."""

    replicates: int
    n_bins: int
    seed: int = 0
    sums: Float = field(init=False)
    bin_weight: Float = field(init=False)
    bin_confidence: Float = field(init=False)
    bin_outcome: Float = field(init=False)

    def __post_init__(self) -> None:
        self.sums = np.zeros((len(_SUMS), self.replicates))
        self.bin_weight = np.zeros((self.n_bins, self.replicates))
        self.bin_confidence = np.zeros((self.n_bins, self.replicates))
        self.bin_outcome = np.zeros((self.n_bins, self.replicates))

    def update(
        self, values: SampleValues, row_numbers: NDArray[np.int64], sample_weight: Float | None
    ) -> None:
        n = values.loss.shape[0]
        if n == 0:
            return
        # The (rows × replicates) weights and (bins × rows) indicators are built a slice of
        # rows at a time, so memory stays bounded whatever --bootstrap and --bins are.
        width = max(self.replicates, self.n_bins) * (
            values.calib_conf.shape[1] if values.calib_conf.ndim == 2 else 1
        )
        step = max(1, UPDATE_VALUES // width)
        if n > step:
            for a in range(0, n, step):
                b = min(a + step, n)
                self.update(
                    take_rows(values, np.arange(a, b)),
                    row_numbers[a:b],
                    None if sample_weight is None else sample_weight[a:b],
                )
            return
        s = np.ones(n) if sample_weight is None else sample_weight
        w = poisson_weights(row_numbers, self.replicates, self.seed) * s[:, None]
        d = np.ones(n) if values.loss_weight is None else values.loss_weight
        zeros = np.zeros(n)
        columns = [
            np.ones(n),
            values.loss,
            d,
            values.cross_entropy,
            values.entropy,
            zeros if values.label_entropy is None else values.label_entropy,
            values.kl_divergence,
            values.brier,
            values.correct,
        ]
        self.sums += np.stack(columns) @ w
        conf, hit = values.calib_conf, values.calib_hit
        if conf.ndim == 2:  # multi-label: each label is an event with its row's weights
            labels = conf.shape[1]
            w = np.repeat(w, labels, axis=0)
            conf, hit = conf.reshape(-1), hit.reshape(-1)
        index = bin_index(conf, self.n_bins)
        onehot = np.zeros((self.n_bins, conf.shape[0]))
        onehot[index, np.arange(conf.shape[0])] = 1.0
        self.bin_weight += onehot @ w
        self.bin_confidence += (onehot * conf) @ w
        self.bin_outcome += (onehot * hit) @ w

    def merge(self, other: BootstrapAccumulator) -> BootstrapAccumulator:
        out = BootstrapAccumulator(self.replicates, self.n_bins, self.seed)
        out.sums = self.sums + other.sums
        out.bin_weight = self.bin_weight + other.bin_weight
        out.bin_confidence = self.bin_confidence + other.bin_confidence
        out.bin_outcome = self.bin_outcome + other.bin_outcome
        return out

    def replicate_metrics(self, base_divisor: float) -> dict[str, Float]:
        """Each metric of the report, once per replicate (NaN where a replicate is empty)."""
        get = dict(zip(_SUMS, self.sums, strict=True))
        with np.errstate(divide="ignore", invalid="ignore"):
            weight = get["weight"]
            out = {
                name: get[name] / weight / base_divisor for name in _LOG_METRICS if name != "loss"
            }
            out["loss"] = get["loss"] / get["loss_denominator"] / base_divisor
            with np.errstate(over="ignore"):
                out["perplexity"] = np.exp(get["cross_entropy"] / weight)
            out["accuracy"] = get["correct"] / weight
            out["brier"] = get["brier"] / weight
        out["ece"] = np.array(
            [ece_from_bins(*self._bins(r)) for r in range(self.replicates)], dtype=np.float64
        )
        out["mce"] = np.array(
            [mce_from_bins(*self._bins(r)) for r in range(self.replicates)], dtype=np.float64
        )
        # The estimators that read the equal-width bins get intervals too; the classwise, equal-
        # mass and smooth ones would need a histogram per replicate, which is not kept.
        for name, estimator in (
            ("rmsce", rms_calibration_error_from_bins),
            ("rmsce_debiased", debiased_rms_calibration_error_from_bins),
            ("overconfidence", overconfidence_from_bins),
        ):
            out[name] = np.array(
                [estimator(*self._bins(r)) for r in range(self.replicates)], dtype=np.float64
            )
        return out

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
