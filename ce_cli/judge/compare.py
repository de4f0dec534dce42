"""``ce-eval compare A B``: two models on the same rows, with paired bootstrap intervals.

Both inputs are read by the evaluate command's readers and evaluated by its engine in one pass
(:mod:`ce_cli.engine.paired`): each gets its own frozen plan and its full report, and the rows'
per-row values are paired and folded into fixed-size paired sums; no file is written. Rows are
paired by ``--id-col`` when given (the second model's evaluated rows are held by id: see
:mod:`ce_cli.engine.paired` for what that costs) or else by position (both inputs must have the
same rows). For each metric of the registry the result gives both reports' values, their
difference ``A - B`` and, for a metric that is a mean of per-row values, the Poisson-bootstrap
percentile interval of the paired difference; the verdict says which model is better when the
interval excludes 0.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ce_cli.engine.local import LocalDriver
from ce_cli.engine.paired import run_paired
from ce_cli.errors import CeEvalError
from ce_cli.io.readers import names_format, open_source
from ce_cli.io.source import Source
from ce_cli.io.text import ids_as_text
from ce_cli.judge.verdicts import A_BETTER, B_BETTER, DESCRIPTIVE, NO_DIFFERENCE, NO_INTERVAL
from ce_cli.report.metric import Metric
from ce_cli.report.registry import REPORT_METRICS
from ce_cli.settings import Settings

_ID_NAMES = ("id", "ids", "row_id", "sample_id", "example_id", "uid", "uuid", "key")


def _shared_id_column(schema_a: Any, schema_b: Any) -> str | None:
    """A column named like an id, spelled the same in both inputs."""
    names = [{n.lower(): n for n in schema.names} for schema in (schema_a, schema_b)]
    for candidate in _ID_NAMES:
        in_both = candidate in names[0] and candidate in names[1]
        if in_both and names[0][candidate] == names[1][candidate]:
            return str(names[0][candidate])
    return None


def _declared_formats(a: Any, b: Any, declared: str | None) -> tuple[str | None, str | None]:
    """The ``--input-format`` each input is read with. It applies to an input whose name does
    not say its format (``-``, a pipe, a name without a known suffix); the other is read by its
    suffix (``compare a.csv - --input-format parquet``). Where both names say it, to both."""
    if declared is None:
        return None, None
    says = [isinstance(s, str) and s != "-" and names_format(s) for s in (a, b)]
    if all(says):
        return declared, declared
    return (None if says[0] else declared), (None if says[1] else declared)


def _open(source: Any, settings: Settings, name: str, declared: str | None = None) -> Source:
    """An input as the evaluate command opens it: a path, ``-``, or an in-memory table."""
    if isinstance(source, str):
        src = ids_as_text(open_source(source, declared), settings.id_col)
    else:
        from ce_cli.api import _table_source

        src = _table_source(source, name)
    if settings.labels_file:
        from ce_cli.io.join import join_labels

        try:
            labels = ids_as_text(open_source(settings.labels_file), settings.id_col)
            src = join_labels(src, labels, settings.id_col)
        except BaseException:
            src.close()
            raise
    return src


def compare(
    source_a: Any, source_b: Any, *, level: float = 0.95, replicates: int = 1000, **options: Any
) -> dict[str, Any]:
    """Evaluate two models' predictions on the same rows; paired differences with intervals.

    ``source_a`` and ``source_b`` are what :func:`ce_cli.evaluate` takes (paths, ``"-"``,
    Arrow tables, DataFrames); ``options`` are :class:`~ce_cli.settings.Settings` fields, or
    ``settings=`` one.
    """
    settings = options.pop("settings", None) or Settings(**options)
    sources: list[Source] = []
    try:
        declared = _declared_formats(source_a, source_b, settings.input_format)
        for source, name, fmt in zip(
            (source_a, source_b), ("<table A>", "<table B>"), declared, strict=True
        ):
            try:
                sources.append(_open(source, settings, name, fmt))
            except CeEvalError as error:
                raise error.with_file(str(source)) from None
        evaluated = settings
        if settings.id_col is None:  # by position: an id column in both must agree row by row
            shared = _shared_id_column(sources[0].schema, sources[1].schema)
            if shared is not None:
                evaluated = dataclasses.replace(settings, id_col=shared)
                sources = [ids_as_text(src, shared) for src in sources]
        paired = run_paired(
            LocalDriver(sources[0]),
            LocalDriver(sources[1]),
            evaluated,
            replicates,
            by_id=settings.id_col is not None,
        )
    finally:
        for src in sources:
            src.close()
    report_a, report_b, sums = paired.report_a, paired.report_b, paired.sums
    tail = (1.0 - level) / 2.0
    metrics: dict[str, Any] = {}
    for m in REPORT_METRICS:
        if m.name not in report_a.metrics or m.name not in report_b.metrics:
            continue
        a, b = report_a.metrics[m.name], report_b.metrics[m.name]
        low = high = None
        verdict = DESCRIPTIVE if m.direction == "descriptive" else NO_INTERVAL
        if m in paired.metrics:
            diffs = sums.replicate_differences(m.name)
            if diffs.size:
                low, high = (
                    float(m.scale(x, settings.base_divisor))
                    for x in np.quantile(diffs, [tail, 1.0 - tail])
                )
                verdict = _verdict(m, low, high)
        metrics[m.name] = {
            "a": a,
            "b": b,
            "difference": None if a is None or b is None else a - b,
            "low": low,
            "high": high,
            "direction": m.direction,
            "verdict": verdict,
        }
    return {
        "schema_version": 1,
        "a": report_a.source,
        "b": report_b.source,
        "n_samples": report_a.n_samples,
        "task": report_a.detection.task,
        "base": settings.base,
        "level": level,
        "replicates": replicates,
        "paired_by": "id" if settings.id_col else "row order",
        # Reads of each input: 1, or 2 where balanced class weights count the labels first.
        "passes": paired.passes,
        "metrics": metrics,
        # Each model's own calibration (bins, and whatever else the report carries), so that
        # both can be drawn on one reliability diagram (--plot).
        "calibration": {"a": report_a.calibration, "b": report_b.calibration},
    }


def _verdict(metric: Metric, low: float, high: float) -> str:
    if metric.direction == "descriptive":
        return DESCRIPTIVE
    if low > 0 or high < 0:
        a_better = (high < 0) == (metric.direction == "lower")
        return A_BETTER if a_better else B_BETTER
    return NO_DIFFERENCE
