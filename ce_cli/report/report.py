"""The frozen result of an evaluation, and how an accumulator becomes one.

A :class:`Report` is plain data — JSON-ready numbers, strings and lists — with a
``schema_version``; renderers (``ce_cli.render``) turn it into text and never compute.
Bump :data:`SCHEMA_VERSION` on any breaking change to :meth:`Report.to_dict`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ce_cli._version import __version__
from ce_cli.core.calibration import bin_edges, calibration_gaps, ece_from_bins, signed_gaps
from ce_cli.core.classwise import ClasswiseSums, classwise_eces, murphy_decomposition
from ce_cli.core.equal_mass import FINE_CELLS, fine_cell_means, fine_equal_mass_bins
from ce_cli.core.sample_values import BINARY, MULTILABEL
from ce_cli.core.smooth import smooth_curve, smooth_ece_bandwidth
from ce_cli.errors import WeightError
from ce_cli.report.metric import LOG_DBL_MAX, perplexity
from ce_cli.report.per_class import PerClassRows, per_class_rows
from ce_cli.report.registry import METRICS, finish_bins, finish_sums, order
from ce_cli.state.accumulator import (
    LOSS_BINS_PER_DECADE,
    LOSS_LOG10_MIN,
    SCALAR_METRICS,
    Accumulator,
)

__all__ = ["LOG_DBL_MAX", "Detection", "Report", "build_report", "perplexity"]

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Detection:
    """What ce-eval decided about the input, and why (shown to the user)."""

    task: str
    logits: bool
    logits_reason: str
    classes: tuple[str, ...]
    label_column: str | None
    prediction_columns: tuple[str, ...]
    target_columns: tuple[str, ...] = ()
    weight_column: str | None = None
    id_column: str | None = None
    soft_targets: bool = False
    eps: float = float(np.finfo(np.float64).eps)
    columns_reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "predictions": "logits" if self.logits else "probabilities",
            "predictions_reason": self.logits_reason,
            "soft_targets": self.soft_targets,
            "n_classes": len(self.classes),
            "classes": list(self.classes),
            "clip_eps": self.eps,
            "columns": {
                "label": self.label_column,
                "predictions": list(self.prediction_columns),
                "targets": list(self.target_columns),
                "weight": self.weight_column,
                "id": self.id_column,
                "predictions_reason": self.columns_reason,
            },
        }


@dataclass(frozen=True)
class Report:
    """Everything ce-eval reports about one input. Metrics are in ``base`` where they are logs."""

    source: str
    n_samples: int
    base: str
    metrics: dict[str, float]
    detection: Detection
    settings: dict[str, Any]
    counts: dict[str, float]
    per_class: Sequence[dict[str, Any]]  # a PerClassRows from build_report
    calibration: dict[str, Any]
    loss_quantiles: dict[str, float]
    class_weights: list[float] | None = None
    loss_histogram: dict[str, Any] | None = None
    schema_version: int = SCHEMA_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON report (SPEC keys first)."""
        out = self.to_dict_streaming()
        out["per_class"] = [dict(row) for row in self.per_class]
        return out

    def to_dict_streaming(self) -> dict[str, Any]:
        """:meth:`to_dict` with ``per_class`` left as the report holds it (a
        :class:`~ce_cli.report.per_class.PerClassRows` from :func:`build_report`), for a writer
        that formats its columns: no dict per class."""
        out: dict[str, Any] = {
            "schema_version": self.schema_version,
            "tool": {"name": "ce-eval", "version": __version__},
            "source": self.source,
            "n_samples": self.n_samples,
            "base": self.base,
            "metrics": dict(self.metrics),
            "detected": self.detection.to_dict(),
            "settings": dict(self.settings),
            "class_weights": self.class_weights,
            "counts": dict(self.counts),
            "loss_quantiles": dict(self.loss_quantiles),
            "per_class": self.per_class,
            "calibration": self.calibration,
        }
        if self.loss_histogram is not None:
            out["loss_histogram"] = self.loss_histogram
        out.update(self.extra)
        return out


def accumulator_sums(acc: Accumulator) -> dict[str, float]:
    """The per-sample sums a registry metric's ``from_sums`` reads."""
    sums = {name: acc.metric_sum(name) for name in SCALAR_METRICS}
    sums["weight"], sums["loss_denominator"] = acc.weight, acc.loss_denominator
    sums["n_labels"] = acc.n_classes
    return sums


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator > 0 else None


def build_report(
    acc: Accumulator,
    *,
    source: str,
    detection: Detection,
    settings: dict[str, Any],
    base: str,
    base_divisor: float,
    class_weights: list[float] | None = None,
) -> Report:
    """Finish the means of an accumulator into a :class:`Report` (values in ``base``)."""
    if acc.weight <= 0:
        raise WeightError(
            "the sample weights sum to 0, so no mean exists", hint="check --weight-col"
        )
    if acc.loss_denominator <= 0:
        raise WeightError(
            "the class weights of every row's true class are 0, so the loss mean has no "
            "denominator",
            hint="check --class-weights",
        )
    metrics: dict[str, float] = finish_sums(
        accumulator_sums(acc), base_divisor, multilabel=acc.task == MULTILABEL
    )
    metrics.update(finish_bins(acc.bin_weight, acc.bin_confidence, acc.bin_outcome))
    calibration = _calibration(acc)
    metrics.update(calibration.pop("metrics"))
    metrics = order(metrics)
    quantiles = {
        m.name: m.scale(acc.loss_quantile(m.fraction), base_divisor)
        for m in METRICS
        if m.fraction is not None
    }
    counts = {
        "rows": acc.rows,
        "weight_total": acc.weight,
        "clipped_rows": acc.clipped_rows,
        "ignored_rows": acc.ignored_rows,
        "dropped_rows": acc.dropped_rows,
        "renormalized_rows": acc.renormalized_rows,
    }
    return Report(
        source=source,
        n_samples=acc.rows,
        base=base,
        metrics=metrics,
        detection=detection,
        settings=settings,
        counts=counts,
        per_class=_per_class(acc, detection.classes, base_divisor),
        calibration=calibration,
        loss_quantiles=quantiles,
        class_weights=class_weights,
        loss_histogram=_loss_histogram(acc, base_divisor),
    )


LOSS_HISTOGRAM_BINS_PER_DECADE = 10


def _loss_histogram(acc: Accumulator, base_divisor: float) -> dict[str, Any]:
    """The accumulator's log-spaced loss histogram, coarsened to
    :data:`LOSS_HISTOGRAM_BINS_PER_DECADE` bins a decade and cut to its non-empty span.

    ``edges`` (one more than ``weight``) are in the report's base. The first bin of the
    accumulator (losses below its smallest edge, 0 included) starts at 0; the overflow bin
    ends at the largest loss.
    """
    fine = acc.loss_histogram
    step = LOSS_BINS_PER_DECADE // LOSS_HISTOGRAM_BINS_PER_DECADE
    inner = fine[1:-1].reshape(-1, step).sum(axis=1)
    weight = np.concatenate([fine[:1], inner, fine[-1:]])
    inner_edges = 10.0 ** (
        LOSS_LOG10_MIN + np.arange(len(inner) + 1) / LOSS_HISTOGRAM_BINS_PER_DECADE
    )
    edges = np.concatenate([[0.0], inner_edges, [max(acc.loss_max, inner_edges[-1])]])
    filled = np.flatnonzero(weight > 0)
    if len(filled) == 0:
        return {"bins_per_decade": LOSS_HISTOGRAM_BINS_PER_DECADE, "edges": [], "weight": []}
    first, last = int(filled[0]), int(filled[-1])
    return {
        "bins_per_decade": LOSS_HISTOGRAM_BINS_PER_DECADE,
        "edges": [float(e) / base_divisor for e in edges[first : last + 2]],
        "weight": [float(w) for w in weight[first : last + 1]],
    }


def _per_class(acc: Accumulator, classes: tuple[str, ...], base_divisor: float) -> PerClassRows:
    # Multi-label: every row counts for every label; otherwise the rows of true class c.
    multilabel = acc.task == MULTILABEL
    denominator = np.full(acc.n_classes, acc.weight) if multilabel else acc.class_weight
    return per_class_rows(
        classes,
        rows=acc.class_rows,
        weight=acc.class_weight,
        loss=acc.class_loss,
        loss_denominator=acc.class_loss_denominator,
        cross_entropy=acc.class_cross_entropy,
        correct=acc.class_correct,
        confidence=acc.class_confidence,
        true_prob=acc.class_true_prob,
        predicted=acc.class_predicted,
        denominator=denominator,
        eces=classwise_eces(_classwise(acc)) if _has_classwise(acc) else None,
        base_divisor=base_divisor,
    )


def _has_classwise(acc: Accumulator) -> bool:
    """Whether every row reached the classwise bins (groups and bare updates do not)."""
    return acc.detail and acc.rows > 0 and acc.classwise_rows == acc.rows


def _classwise(acc: Accumulator) -> ClasswiseSums:
    sums = ClasswiseSums(0, acc.n_bins)
    sums.weight, sums.confidence, sums.outcome = (
        acc.classwise_weight,
        acc.classwise_confidence,
        acc.classwise_outcome,
    )
    sums.square, sums.cross, sums.target_spread = (float(x) for x in acc.murphy_sums)
    return sums


def _murphy_view(acc: Accumulator) -> ClasswiseSums:
    """The classwise bins Murphy's decomposition sums over: binary, q against y (class 1)."""
    sums = _classwise(acc)
    if acc.task == BINARY:
        sums.weight, sums.confidence, sums.outcome = (
            sums.weight[1:],
            sums.confidence[1:],
            sums.outcome[1:],
        )
    return sums


def _bin_rows(
    lower: list[float], upper: list[float], total: Any, conf: Any, hit: Any, count: Any
) -> list[dict[str, Any]]:
    gaps = signed_gaps(total, conf, hit)
    out = []
    for b in range(len(total)):
        w = float(total[b])
        filled = w > 0
        out.append(
            {
                "lower": lower[b],
                "upper": upper[b],
                "count": None if count is None else int(count[b]),
                "weight": w,
                "confidence": float(conf[b]) / w if filled else None,
                "accuracy": float(hit[b]) / w if filled else None,
                "gap": abs(float(gaps[b])) if filled else None,
                "signed_gap": float(gaps[b]) if filled else None,
            }
        )
    return out


def _calibration(acc: Accumulator) -> dict[str, Any]:
    """The calibration section; its ``metrics`` entry is moved into the report's metrics."""
    edges = bin_edges(acc.n_bins)
    w, conf, hit = acc.bin_weight, acc.bin_confidence, acc.bin_outcome
    gaps = calibration_gaps(w, conf, hit)
    bins = _bin_rows(
        [float(e) for e in edges[:-1]], [float(e) for e in edges[1:]], w, conf, hit, acc.bin_rows
    )
    for row, gap in zip(bins, gaps, strict=True):
        if row["weight"] > 0:
            row["gap"] = float(gap)
    metrics: dict[str, float] = {}
    out: dict[str, Any] = {"n_bins": acc.n_bins, "bins": bins}
    if acc.detail and acc.fine_weight.sum() > 0:
        fine = (acc.fine_weight, acc.fine_confidence, acc.fine_outcome)
        bounds, mw, ms, my = fine_equal_mass_bins(*fine, acc.fine_low, acc.fine_high, acc.n_bins)
        lowest = float(acc.fine_low[acc.fine_weight > 0].min())
        highest = float(acc.fine_high[acc.fine_weight > 0].max())
        cuts = [float(x) for x in bounds]
        out["equal_mass_bins"] = _bin_rows([lowest, *cuts], [*cuts, highest], mw, ms, my, None)
        metrics["ece_adaptive"] = ece_from_bins(mw, ms, my)
        position, weight, residual = fine_cell_means(*fine)
        smece, sigma = smooth_ece_bandwidth(position, weight, residual)
        metrics["smece"] = smece
        curve = smooth_curve(position, weight, residual, sigma)
        out["smooth"] = {
            "bandwidth": sigma,
            "grid": curve.grid,
            "accuracy": curve.accuracy,
            "density": curve.density,
        }
        out["resolution"] = {
            "fine_cells": FINE_CELLS,
            "ece_adaptive": 2e-4,
            "smece": 2e-4,
            "with_heavy_ties_or_exact_0_or_1": 5e-3,
        }
    if _has_classwise(acc):
        eces = classwise_eces(_classwise(acc))
        metrics["ece_classwise"] = float(np.nanmean(eces)) if eces.size else 0.0
        parts = murphy_decomposition(_murphy_view(acc))
        metrics["brier_reliability"] = parts["reliability"]
        metrics["brier_resolution"] = parts["resolution"]
        metrics["brier_uncertainty"] = parts["uncertainty"]
        out["brier_decomposition"] = {
            **parts,
            "view": "q against y" if acc.task == BINARY else "classwise, summed over classes",
        }
    out["metrics"] = metrics
    return out
