"""The frozen plan: what the first rows of an input decide, once, for every batch and worker.

:func:`decide_plan` reads the column names and the first rows (the decision window) and fixes the
columns, the task, the classes, logits or probabilities and the loss; a :class:`Plan` never
changes afterwards (balanced class weights, which need every label, come from an explicit pass
and make a new plan with :meth:`Plan.with_class_weights`). A plan is a plain picklable value, so
a Dask worker receives the very decisions the local engine took.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from ce_cli.core.logprob import machine_eps
from ce_cli.core.sample_values import LossSpec
from ce_cli.errors import EmptyInputError, UsageError
from ce_cli.resolve.columns import ColumnPlan, plan_columns
from ce_cli.resolve.converter import Converter
from ce_cli.resolve.typed import Decision
from ce_cli.settings import Settings

Float = NDArray[np.float64]


@dataclass(frozen=True)
class Plan:
    """Everything decided about one input; immutable (the converter is only read after
    :meth:`~ce_cli.resolve.converter.Converter.decide`)."""

    source: str  # the input's name, as errors and the report give it
    settings: Settings
    columns: ColumnPlan
    converter: Converter
    decision: Decision
    spec: LossSpec
    # "balanced" class weights wait for the label-count pass (see needs_label_counts).
    class_weights: Float | None

    @property
    def classes(self) -> tuple[str, ...]:
        return self.converter.classes

    @property
    def n_classes(self) -> int:
        return len(self.converter.classes)

    @property
    def needs_label_counts(self) -> bool:
        """Whether a pass over the labels must run before the evaluation (balanced weights)."""
        return self.settings.class_weights == "balanced" and self.class_weights is None

    def with_class_weights(self, weights: Float) -> Plan:
        spec = dataclasses.replace(self.spec, class_weights=weights)
        return dataclasses.replace(self, spec=spec, class_weights=weights)


def start_plan(schema: pa.Schema, settings: Settings, source: str) -> tuple[ColumnPlan, Converter]:
    """The columns (from the names alone) and the converter that will decide from the rows."""
    columns = plan_columns(schema, settings, source)
    return columns, Converter(columns, settings, source)


def decide_plan(
    source: str,
    settings: Settings,
    columns: ColumnPlan,
    converter: Converter,
    window: Sequence[pa.RecordBatch],
) -> Plan:
    """Decide task, classes and input kind from the first rows (``window``) into a plan."""
    if not window or sum(b.num_rows for b in window) == 0:
        raise EmptyInputError("the input has no data rows", file=source)
    decision = converter.decide(window)
    columns = converter.plan  # the decision may narrow the prediction columns
    if settings.alpha is not None and decision.task == "multiclass":
        raise UsageError(
            "--alpha balances the positive class of binary and multi-label focal loss; "
            "it has no meaning for multi-class",
            hint="use --class-weights to weigh classes",
        )
    class_weights = _explicit_class_weights(settings, decision, converter, columns, source)
    eps = machine_eps(np.float32 if columns.float32 else np.float64)
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
    return Plan(source, settings, columns, converter, decision, spec, class_weights)


def _n_weighted_classes(decision: Decision, converter: Converter) -> int:
    return 2 if decision.task == "binary" else len(converter.classes)


def _explicit_class_weights(
    settings: Settings, decision: Decision, converter: Converter, columns: ColumnPlan, source: str
) -> Float | None:
    weights = settings.class_weights
    if weights is None:
        return None
    n_classes = _n_weighted_classes(decision, converter)
    if weights == "balanced":
        if columns.label is None:
            raise UsageError(
                "--class-weights balanced needs hard labels (--label-col), not --target-cols",
                file=source,
            )
        if decision.task == "multilabel":
            raise UsageError("--class-weights balanced is not defined for multi-label")
        return None  # from the label-count pass
    assert isinstance(weights, tuple)
    if len(weights) != n_classes:
        classes = converter.classes
        raise UsageError(
            f"--class-weights has {len(weights)} weights but there are {n_classes} classes "
            f"({', '.join(classes[:8])}{', …' if n_classes > 8 else ''})",
            hint="give one weight per class, in column order",
        )
    return np.asarray(weights, dtype=np.float64)


def balanced_weights(plan: Plan, counts: NDArray[np.int64]) -> Float:
    """``n / (C · n_c)`` from the label counts of every evaluated row."""
    if (counts == 0).any():
        missing = plan.classes[int(np.argmax(counts == 0))]
        raise UsageError(
            "--class-weights balanced needs every class present in the labels",
            file=plan.source,
            value=missing,
            hint="give explicit weights with --class-weights w1,w2,…",
        )
    n_classes = counts.shape[0]
    return np.asarray(counts.sum() / (n_classes * counts.astype(np.float64)))
