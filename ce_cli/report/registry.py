"""The metric registry: every number the report, the gates and the renderers know, declared once.

Each :class:`Metric` says what its number is (``doc``, ``reference``), where it comes from
(``state``: the per-sample sums, the equal-width bins, the fine histogram, the classwise bins, the
fitted temperature or the loss histogram), how that state is finished into a number
(``from_sums`` or ``from_bins``, shared by the report and the bootstrap replicates), which way is
better for a gate or a baseline (``direction``), whether it is a log and so scaled by ``--base``
(``log_units``), when it is reported (``when``) and whether ``--ci`` gives it an interval (or
``no_interval``, the reason why not).

Adding a metric: its kernel in ``core/`` (and its sums in the accumulator if they are new), one
:class:`Metric` here, and its tests; the report, the bootstrap, gates, baselines, compare, the
renderers and the JSON Schema read this list. ``tests/test_metric_registry.py`` runs every
invariant over it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ce_cli.core.calibration import (
    debiased_rms_calibration_error_from_bins,
    ece_from_bins,
    mce_from_bins,
    overconfidence_from_bins,
    rms_calibration_error_from_bins,
)
from ce_cli.report.metric import Metric, Sums, _loss, _mean, _per_label, _perplexity

_FINE = (
    "it is read off the fine histogram of every confidence, tens of thousands of cells that "
    "each replicate would need whole"
)
_CLASSWISE = (
    "it needs every class's bins per replicate, classes × bins × replicates sums that grow with "
    "the classes, and multi-class rows hand the bootstrap only their top label"
)
_TEMPERATURE = "each replicate would need its own temperature fit, several passes over the input"

METRICS: tuple[Metric, ...] = (
    Metric(
        "loss",
        "loss",
        "the chosen loss with every modifier (focal, smoothing, class weights)",
        "lower",
        "sums",
        log_units=True,
        reference="PyTorch cross_entropy(weight, label_smoothing); torchvision sigmoid_focal_loss",
        from_sums=_loss,
        per_row="loss",
    ),
    Metric(
        "cross_entropy",
        "cross-entropy",
        "plain cross-entropy of the same rows (sample weights only)",
        "lower",
        "sums",
        log_units=True,
        reference="scikit-learn log_loss",
        from_sums=_mean("cross_entropy"),
        per_row="cross_entropy",
    ),
    Metric(
        "entropy",
        "entropy (predicted)",
        "mean entropy of the predictions",
        "descriptive",
        "sums",
        log_units=True,
        reference="Shannon 1948",
        from_sums=_mean("entropy"),
        per_row="entropy",
    ),
    Metric(
        "label_entropy",
        "label entropy",
        "mean entropy of the targets (0 for hard labels)",
        "descriptive",
        "sums",
        log_units=True,
        reference="Shannon 1948",
        from_sums=_mean("label_entropy"),
    ),
    Metric(
        "kl_divergence",
        "KL divergence",
        "cross-entropy − label entropy",
        "lower",
        "sums",
        log_units=True,
        reference="Kullback & Leibler 1951",
        from_sums=_mean("kl_divergence"),
    ),
    Metric(
        "perplexity",
        "perplexity",
        "exp(cross-entropy in nats)",
        "lower",
        "sums",
        from_sums=_perplexity,
    ),
    Metric(
        "accuracy",
        "accuracy",
        "the predicted class is right (multi-label: per label, q ≥ 0.5)",
        "higher",
        "sums",
        reference="scikit-learn accuracy_score",
        from_sums=_mean("correct"),
        per_row="correct",
    ),
    Metric(
        "brier",
        "Brier score",
        "mean squared error of the probabilities",
        "lower",
        "sums",
        reference="Brier 1950; scikit-learn brier_score_loss",
        from_sums=_mean("brier"),
        per_row="brier",
    ),
    Metric(
        "ece",
        "ECE",
        "expected calibration error, equal-width bins",
        "lower",
        "bins",
        reference="torchmetrics CalibrationError (l1); netcal ECE",
        from_bins=ece_from_bins,
    ),
    Metric(
        "mce",
        "MCE",
        "largest gap of any bin",
        "lower",
        "bins",
        reference="torchmetrics CalibrationError (max)",
        from_bins=mce_from_bins,
    ),
    Metric(
        "rmsce",
        "RMSCE",
        "root-mean-square calibration error",
        "lower",
        "bins",
        reference="torchmetrics CalibrationError (l2)",
        from_bins=rms_calibration_error_from_bins,
    ),
    Metric(
        "rmsce_debiased",
        "RMSCE, debiased",
        "RMS calibration error, debiased",
        "lower",
        "bins",
        reference="Kumar et al. 2019",
        from_bins=debiased_rms_calibration_error_from_bins,
    ),
    Metric(
        "overconfidence",
        "overconfidence",
        "mean confidence − accuracy (> 0: overconfident)",
        "descriptive",
        "bins",
        from_bins=overconfidence_from_bins,
    ),
    Metric(
        "ece_adaptive",
        "ECE, equal-mass",
        "ECE on equal-mass bins",
        "lower",
        "fine",
        reference="Nixon et al. 2019; uncertainty-calibration get_ece_em",
        when="fine",
        no_interval=_FINE,
    ),
    Metric(
        "smece",
        "smooth ECE",
        "smooth ECE (kernel-smoothed)",
        "lower",
        "fine",
        reference="Błasiok & Nakkiran 2023, relplot.smECE",
        when="fine",
        no_interval=_FINE,
    ),
    Metric(
        "ece_classwise",
        "ECE, classwise",
        "mean ECE of each class's own probability",
        "lower",
        "classwise",
        reference="Kull et al. 2019",
        when="classwise",
        no_interval=_CLASSWISE,
    ),
    Metric(
        "brier_reliability",
        "Brier reliability",
        "Brier: reliability (lower is better)",
        "lower",
        "classwise",
        reference="Murphy 1973",
        when="classwise",
        no_interval=_CLASSWISE,
    ),
    Metric(
        "brier_resolution",
        "Brier resolution",
        "Brier: resolution (higher is better)",
        "higher",
        "classwise",
        reference="Murphy 1973",
        when="classwise",
        no_interval=_CLASSWISE,
    ),
    Metric(
        "brier_uncertainty",
        "Brier uncertainty",
        "Brier: uncertainty of the labels",
        "descriptive",
        "classwise",
        reference="Murphy 1973",
        when="classwise",
        no_interval=_CLASSWISE,
    ),
    Metric(
        "loss_per_label",
        "loss per label",
        "loss ÷ number of labels",
        "lower",
        "sums",
        log_units=True,
        when="multilabel",
        from_sums=_per_label("loss"),
    ),
    Metric(
        "cross_entropy_per_label",
        "cross-entropy per label",
        "cross-entropy ÷ number of labels",
        "lower",
        "sums",
        log_units=True,
        when="multilabel",
        from_sums=_per_label("cross_entropy"),
    ),
    Metric(
        "subset_accuracy",
        "subset accuracy",
        "every label of a row right",
        "higher",
        "sums",
        reference="scikit-learn accuracy_score (multi-label)",
        when="multilabel",
        from_sums=_mean("exact_match"),
    ),
    Metric(
        "temperature",
        "temperature T*",
        "fitted temperature",
        "descriptive",
        "temperature",
        reference="Guo et al. 2017",
        when="temperature",
        no_interval=_TEMPERATURE,
    ),
    Metric(
        "cross_entropy_calibration",
        "CE removed by T*",
        "the part of the cross-entropy one temperature removes",
        "lower",
        "temperature",
        log_units=True,
        reference="Berta et al. 2025 (probmetrics)",
        when="temperature",
        no_interval=_TEMPERATURE,
    ),
    Metric(
        "cross_entropy_refinement",
        "CE after T*",
        "cross-entropy after temperature scaling",
        "lower",
        "temperature",
        log_units=True,
        reference="Berta et al. 2025 (probmetrics)",
        when="temperature",
        no_interval=_TEMPERATURE,
    ),
    Metric(
        "ece_after_temperature",
        "ECE after T*",
        "ECE after temperature scaling",
        "lower",
        "temperature",
        reference="Guo et al. 2017",
        when="temperature",
        no_interval=_TEMPERATURE,
    ),
    *(
        Metric(
            key,
            f"loss {key}",
            doc,
            "lower",
            "loss_histogram",
            log_units=True,
            section="loss_quantiles",
            fraction=fraction,
        )
        for key, fraction, doc in (
            ("p50", 0.5, "median per-sample loss (log-spaced histogram)"),
            ("p90", 0.9, "90th percentile of the per-sample loss (log-spaced histogram)"),
            ("p99", 0.99, "99th percentile of the per-sample loss (log-spaced histogram)"),
            ("min", 0.0, "smallest per-sample loss"),
            ("max", 1.0, "largest per-sample loss"),
        )
    ),
)

BY_NAME: dict[str, Metric] = {m.name: m for m in METRICS if m.section == "metrics"}
"""The metrics of the report's ``metrics`` object, by key."""
BY_GATE_NAME: dict[str, Metric] = {m.gate_name: m for m in METRICS}
"""Every gate-able metric by the name ``--max``/``--min`` know it by (``loss_p99`` …)."""
REPORT_METRICS: tuple[Metric, ...] = tuple(m for m in METRICS if m.section == "metrics")
REQUIRED = tuple(
    m.name for m in REPORT_METRICS if m.when == "always" and m.state in ("sums", "bins")
)
"""Keys every report's ``metrics`` has (the JSON Schema requires them)."""
SPEC_REQUIRED = (
    "loss",
    "cross_entropy",
    "entropy",
    "label_entropy",
    "kl_divergence",
    "perplexity",
    "accuracy",
    "brier",
    "ece",
    "mce",
)
"""The keys the product contract requires; the schema requires exactly these (so a saved report
of an older version stays valid)."""

WHEN_TEXT: dict[str, str] = {
    "always": "every report",
    "multilabel": "multi-label inputs only",
    "fine": "reports with the fine calibration histogram",
    "classwise": "reports where every row reached the classwise bins",
    "temperature": "--fit-temperature only",
}


def order(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` in registry order (names the registry does not know come last, as they were)."""
    out = {m.name: values[m.name] for m in REPORT_METRICS if m.name in values}
    out.update((k, v) for k, v in values.items() if k not in out)
    return out


def finish_sums(sums: Sums, base_divisor: float, *, multilabel: bool) -> dict[str, Any]:
    """Every ``from_sums`` metric from the per-sample sums (floats, or one array per replicate),
    in the report's base."""
    return {
        m.name: m.scale(m.from_sums(sums), base_divisor)
        for m in REPORT_METRICS
        if m.from_sums is not None
        and (m.when == "always" or (multilabel and m.when == "multilabel"))
    }


def finish_bins(weight: Any, confidence: Any, outcome: Any) -> dict[str, float]:
    """Every ``from_bins`` metric from one set of equal-width bin sums."""
    return {
        m.name: m.from_bins(weight, confidence, outcome)
        for m in REPORT_METRICS
        if m.from_bins is not None
    }
