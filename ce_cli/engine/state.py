"""The state of one pass: every collector, each with its ``merge``.

A :class:`State` holds what the evaluation pass collects — the fixed-size sums
(:class:`~ce_cli.state.accumulator.Accumulator`: totals, per class, calibration bins, fine and loss
histograms), the bootstrap replicates, the per-group sums, the worst rows and the temperature
sums at β = 1 — and ``a.merge(b)`` is the state of ``a``'s rows followed by ``b``'s. So any
split of the input into batches, threads or Dask partitions, merged in row order, gives the
numbers of one pass (sums to rounding; counts, extremes and worst rows exactly).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ce_cli.core.calibration import bin_sums
from ce_cli.core.logprob import log_sigmoid
from ce_cli.core.sample_values import MULTICLASS, MULTILABEL, LossSpec
from ce_cli.core.temperature import (
    log_inputs,
    temperature_sums,
    temperature_sums_two_class,
    two_class_logits,
)
from ce_cli.engine.plan import Plan
from ce_cli.state.accumulator import Accumulator
from ce_cli.state.bootstrap import BootstrapAccumulator
from ce_cli.state.sequences import DEFAULT_WORST, SequenceStats
from ce_cli.state.slices import GroupAccumulators, WorstRows


@dataclass
class State:
    """Everything the evaluation pass collects, for one run of rows."""

    acc: Accumulator
    boot: BootstrapAccumulator | None
    groups: GroupAccumulators | None
    worst: WorstRows
    temperature: TemperatureSums | None
    sequences: SequenceStats | None = None

    @classmethod
    def empty(cls, plan: Plan, on_sequence: Callable[[Any], None] | None = None) -> State:
        """A state of no rows; ``on_sequence`` receives each sequence as it closes
        (per-sequence output)."""
        settings = plan.settings
        task, n_classes, bins = plan.decision.task, plan.n_classes, settings.bins
        return cls(
            acc=Accumulator(task, n_classes, bins),
            boot=(
                BootstrapAccumulator(settings.bootstrap, bins, settings.seed)
                if settings.ci is not None
                else None
            ),
            groups=GroupAccumulators(task, n_classes, bins) if plan.columns.group else None,
            worst=WorstRows(settings.top),
            temperature=TemperatureSums(1.0, bins) if settings.fit_temperature else None,
            sequences=(
                SequenceStats(settings.top or DEFAULT_WORST, on_close=on_sequence, open_left=False)
                if plan.columns.sequence is not None
                else None
            ),
        )

    @property
    def keeps_values(self) -> bool:
        """Whether a collector needs the per-sample values (not only the sums)."""
        return self.groups is not None or self.sequences is not None or self.worst.k > 0

    def absorb(self, other: State) -> None:
        """Add ``other`` (rows that follow this state's) into this one, in place."""
        self.acc.absorb(other.acc)
        if self.boot is not None and other.boot is not None:
            self.boot = self.boot.merge(other.boot)
        if self.groups is not None and other.groups is not None:
            self.groups.absorb(other.groups)
        self.worst.absorb(other.worst)
        if self.temperature is not None and other.temperature is not None:
            self.temperature.absorb(other.temperature)
        if self.sequences is not None and other.sequences is not None:
            self.sequences.absorb(other.sequences)

    def merge(self, other: State) -> State:
        """A new state: this one's rows followed by ``other``'s (both are left as they were)."""
        out = copy.deepcopy(self)
        out.absorb(other)
        return out


class TemperatureSums:
    """The state of a temperature pass: the CE sums at β and the equal-width bins of the
    scaled top-label events (for the ECE after scaling); ``absorb`` merges."""

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

    def absorb(self, other: TemperatureSums) -> None:
        self.sums += other.sums
        self.weight += other.weight
        for mine, theirs in zip(self.bins, other.bins, strict=True):
            mine += theirs

    def merge(self, other: TemperatureSums) -> TemperatureSums:
        out = copy.deepcopy(self)
        out.absorb(other)
        return out

    def means(self) -> tuple[float, float, float]:
        mean = self.sums / self.weight
        return float(mean[0]), float(mean[1]), float(mean[2])


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
    q = log_sigmoid(beta * z).q
    if z.ndim == 2:
        w = None if s is None else np.repeat(s, z.shape[1])
        return sums, (q.reshape(-1), y.reshape(-1), w)
    return sums, (q, y, s)
