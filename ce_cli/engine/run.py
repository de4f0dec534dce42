"""The passes of one evaluation, the same whatever drives them (local threads or Dask).

1. the plan, from the first rows (:meth:`Driver.plan`);
2. with ``--class-weights balanced``, a pass counting the labels, and a new plan with weights;
3. the evaluation pass: :func:`~ce_cli.engine.batch.fold_batch` into a
   :class:`~ce_cli.engine.state.State`;
4. with ``--fit-temperature``, one pass per Newton step of the fit;

then the report is built from the merged state alone.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

import numpy as np
import pyarrow as pa

from ce_cli.core.calibration import ece_from_bins
from ce_cli.core.temperature import TemperatureFit, fit_beta
from ce_cli.engine.batch import count_labels, fold_batch, temperature_batch
from ce_cli.engine.kernel import Sink
from ce_cli.engine.plan import Plan, balanced_weights
from ce_cli.engine.state import State, TemperatureSums
from ce_cli.errors import UsageError
from ce_cli.io.samples_out import PerSampleWriter, PerSequenceWriter
from ce_cli.report.report import Detection, Report, build_report
from ce_cli.settings import Settings
from ce_cli.state.sequences import report_section

S = TypeVar("S")
ProgressCallback = Callable[[int, int | None], None]


class Driver(Protocol):
    """What runs the passes: plans from the first rows, then folds batches into states."""

    parallel: bool  # whether one batch may use this process's thread pool

    @property
    def name(self) -> str: ...

    @property
    def total_rows(self) -> int | None: ...

    def plan(self, settings: Settings) -> Plan: ...

    def fold(
        self,
        plan: Plan,
        empty: Callable[[], S],
        step: Callable[[S, Plan, pa.RecordBatch, int], None],
        merge: Callable[[S, S], S],
        *,
        columns: Sequence[str] | None = None,
        on_batch: Callable[[S], None] | None = None,
    ) -> S: ...


def run(
    driver: Driver,
    settings: Settings,
    per_sample_path: str | None = None,
    progress: ProgressCallback | None = None,
    per_sequence_path: str | None = None,
) -> Report:
    """Evaluate the driver's input under ``settings`` into a report."""
    plan = driver.plan(settings)
    if plan.needs_label_counts:
        plan = plan.with_class_weights(balanced_weights(plan, label_counts(driver, plan)))
    if per_sequence_path and plan.columns.sequence is None:
        raise UsageError("--per-sequence needs --sequence-col", hint="e.g. --sequence-col doc_id")
    writer: PerSampleWriter | None = None
    sequence_writer: PerSequenceWriter | None = None
    try:  # a writer stages a file as it is made: a signal from then on must remove it
        if per_sample_path:
            writer = PerSampleWriter(per_sample_path, plan.classes, settings.base_divisor)
        if per_sequence_path:
            sequence_writer = PerSequenceWriter(per_sequence_path, settings.base_divisor)
        state = evaluation_pass(
            driver,
            plan,
            None if writer is None else writer.write,
            progress,
            None if sequence_writer is None else sequence_writer.add,
        )
        report = finish(plan, state)
        if settings.fit_temperature:
            assert state.temperature is not None
            fitted = fit_temperature(driver, plan, state)
            metrics = {**report.metrics, **fitted.pop("metrics")}
            extra = {**(report.extra or {}), "temperature": fitted}
            report = dataclasses.replace(report, metrics=metrics, extra=extra)
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


def label_counts(driver: Driver, plan: Plan) -> np.ndarray:
    """The explicit pass of balanced class weights: each class's count among evaluated rows."""
    n_classes = 2 if plan.decision.task == "binary" else plan.n_classes
    label = plan.columns.label
    assert label is not None
    # --on-nan drop leaves out rows by any column; otherwise the labels alone decide.
    columns = None if plan.settings.on_nan == "drop" else [label]
    counts: np.ndarray = driver.fold(
        plan,
        functools.partial(np.zeros, n_classes, dtype=np.int64),
        count_labels,
        np.add,
        columns=columns,
    )
    return counts


def evaluation_pass(
    driver: Driver,
    plan: Plan,
    sink: Sink | None,
    progress: ProgressCallback | None,
    on_sequence: Callable[[Any], None] | None = None,
) -> State:
    step = functools.partial(fold_batch, sink=sink, parallel=driver.parallel)

    def on_batch(state: State) -> None:
        if progress is not None:
            acc = state.acc
            progress(acc.rows + acc.ignored_rows + acc.dropped_rows, driver.total_rows)

    return driver.fold(
        plan,
        functools.partial(State.empty, plan, on_sequence),
        step,
        State.merge,
        on_batch=None if progress is None else on_batch,
    )


def fit_temperature(driver: Driver, plan: Plan, state: State) -> dict[str, Any]:
    """Fit β* = 1/T* by safeguarded Newton steps, one pass of the engine each (the evaluation
    pass summed β = 1 already)."""
    assert state.temperature is not None
    settings, acc = plan.settings, state.acc
    passes = 1
    done = {1.0: state.temperature}

    def one_pass(beta: float) -> tuple[float, float, float]:
        nonlocal passes
        passes += 1
        done[beta] = driver.fold(
            plan,
            functools.partial(TemperatureSums, beta, settings.bins),
            functools.partial(temperature_batch, parallel=driver.parallel),
            TemperatureSums.merge,
        )
        return done[beta].means()

    if acc.metric_sum("correct") >= acc.weight and not _soft(plan):
        # Every row's true class has the top score: CE falls for ever as β grows (β* = ∞, a
        # temperature of 0). One pass at a large β gives CE and ECE at that limit.
        beta = 2.0**20
        value = one_pass(beta)[0]
        fit = TemperatureFit(np.inf, value, 0, True, beta)
    else:
        fit = fit_beta(one_pass, state.temperature.means())
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


def _soft(plan: Plan) -> bool:
    """Soft (not 0/1) multi-class targets: accuracy then says nothing about separability."""
    return plan.spec.task == "multiclass" and plan.decision.soft_targets


def finish(plan: Plan, state: State) -> Report:
    """The report of a merged evaluation state (every section but the temperature fit)."""
    settings, columns, decision = plan.settings, plan.columns, plan.decision
    detection = Detection(
        task=decision.task,
        logits=decision.logits,
        logits_reason=decision.logits_reason,
        classes=plan.classes,
        label_column=columns.label,
        prediction_columns=columns.predictions or _optional(columns.prediction_list),
        target_columns=columns.targets or _optional(columns.target_list),
        weight_column=columns.weight,
        id_column=columns.id,
        soft_targets=decision.soft_targets,
        eps=plan.spec.eps,
        columns_reason=columns.columns_reason,
    )
    weights = plan.class_weights
    build = functools.partial(
        build_report,
        source=plan.source,
        detection=detection,
        settings=settings.describe(),
        base=settings.base,
        base_divisor=settings.base_divisor,
        class_weights=None if weights is None else [float(w) for w in weights],
    )
    report = build(state.acc)
    extra: dict[str, Any] = {}
    if state.boot is not None:
        assert settings.ci is not None
        extra["confidence_intervals"] = state.boot.intervals(settings.ci, settings.base_divisor)
    if state.groups is not None:
        extra["groups"] = [
            {"group": name, "n_samples": g.rows, "metrics": build(g).metrics}
            for name, g in sorted(state.groups.groups.items())
            if g.weight > 0 and g.loss_denominator > 0
        ]
    if settings.top:
        extra["worst"] = state.worst.to_list(settings.base_divisor)
    if state.sequences is not None:
        assert columns.sequence is not None
        summary = state.sequences.finish()
        extra["sequences"] = report_section(summary, columns.sequence, settings.base_divisor)
    if extra:
        report = dataclasses.replace(report, extra=extra)
    return report


def _optional(name: str | None) -> tuple[str, ...]:
    return (name,) if name is not None else ()
