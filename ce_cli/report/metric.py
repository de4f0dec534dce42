"""What a metric declaration is: :class:`Metric` (name, doc, direction, state, how it is
finished, units, interval), the vocabulary its fields take, and the finishing functions that
declarations share (means of the per-sample sums, the loss, perplexity)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

Direction = Literal["lower", "higher", "descriptive"]


State = Literal["sums", "bins", "fine", "classwise", "temperature", "loss_histogram"]


When = Literal["always", "multilabel", "fine", "classwise", "temperature"]


# The per-sample sums a ``from_sums`` reads: ``weight`` (Σ s), ``loss_denominator`` (Σ s w_t),
# the sample-weighted sums of the accumulator's scalar metrics, and ``n_labels``.
Sums = Mapping[str, Any]


@dataclass(frozen=True)
class Metric:
    """One reported number. ``from_sums``/``from_bins`` return it in nats where it is a log."""

    name: str
    label: str
    doc: str
    direction: Direction
    state: State
    log_units: bool = False
    reference: str = ""
    when: When = "always"
    from_sums: Callable[[Sums], Any] | None = None
    from_bins: Callable[[Any, Any, Any], float] | None = None
    section: Literal["metrics", "loss_quantiles"] = "metrics"
    no_interval: str | None = None
    fraction: float | None = None
    """``loss_histogram`` metrics: the quantile (0 the smallest loss, 1 the largest)."""
    per_row: str | None = None
    """The :class:`~ce_cli.core.sample_values.SampleValues` field holding each row's value (its mean
    is the metric), which ``compare`` pairs row by row; the per-sample output's column of the same
    name (multi-label ``correct``, the fraction of labels right, is its column ``accuracy``)."""

    @property
    def has_interval(self) -> bool:
        """Whether ``--ci`` gives this metric a bootstrap interval."""
        return self.no_interval is None

    @property
    def gate_name(self) -> str:
        """The name ``--max``/``--min``/``--baseline`` know it by."""
        return self.name if self.section == "metrics" else f"loss_{self.name}"

    def scale(self, value: Any, base_divisor: float) -> Any:
        """``value`` (nats) in the report's base: divided by ``ln(base)`` for a log, else as is."""
        return value / base_divisor if self.log_units else value


def _mean(key: str) -> Callable[[Sums], Any]:
    def finish(s: Sums) -> Any:
        return s[key] / s["weight"]

    return finish


def _loss(s: Sums) -> Any:
    return s["loss"] / s["loss_denominator"]


def _perplexity(s: Sums) -> Any:
    mean = s["cross_entropy"] / s["weight"]
    if isinstance(mean, np.ndarray):
        with np.errstate(over="ignore", invalid="ignore"):
            return np.exp(mean)
    return perplexity(float(mean))


def _per_label(key: str) -> Callable[[Sums], Any]:
    def finish(s: Sums) -> Any:
        mean = _loss(s) if key == "loss" else s[key] / s["weight"]
        return mean / max(int(s["n_labels"]), 1)

    return finish


# log(DBL_MAX): exp of a larger number overflows, exp of this one is finite (≈ 1.797e308).
LOG_DBL_MAX = 709.782712893384


def perplexity(cross_entropy_nats: float) -> float:
    """``exp`` of the mean cross-entropy in nats; infinite (``null`` in JSON) only where ``exp``
    overflows, past :data:`LOG_DBL_MAX`.

    >>> perplexity(709.78), perplexity(709.79)
    (1.7928227943945155e+308, inf)
    """
    try:
        return math.exp(cross_entropy_nats)
    except OverflowError:
        return float("inf")
