"""The Python API: :func:`evaluate` a file (or an Arrow table / pandas DataFrame) into a Report.

The command line is a thin layer over this function, so a notebook gets the same numbers::

    >>> import ce_cli
    >>> report = ce_cli.evaluate("sample_data/binary.csv", loss="focal", gamma=2)  # doctest: +SKIP
    >>> report.metrics["loss"]  # doctest: +SKIP

Flow: source → record batches → a frozen :class:`~ce_cli.engine.plan.Plan` from the first rows →
the pure batch function (:func:`~ce_cli.engine.batch.evaluate_batch`) folded into a mergeable
:class:`~ce_cli.engine.state.State` by a driver (:mod:`ce_cli.engine.local`, or
:mod:`ce_cli.engine.dask` with ``engine="dask"``) → :func:`~ce_cli.engine.run.finish`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa

from ce_cli.engine.local import LocalDriver
from ce_cli.engine.run import run
from ce_cli.errors import CeEvalError, UsageError
from ce_cli.io.batching import sliced
from ce_cli.io.readers import open_source
from ce_cli.io.source import Source
from ce_cli.report.report import Report
from ce_cli.settings import Settings

ProgressCallback = Callable[[int, int | None], None]


def _table_source(data: Any, name: str) -> Source:
    if not isinstance(data, pa.Table):
        if hasattr(data, "__dataframe__") or type(data).__module__.startswith("pandas"):
            data = pa.Table.from_pandas(data, preserve_index=False)
        elif isinstance(data, pa.RecordBatch):
            data = pa.Table.from_batches([data])
        else:
            raise UsageError(
                "evaluate() takes a path, '-', a pyarrow Table/RecordBatch or a pandas DataFrame",
                value=type(data).__name__,
            )
    table: pa.Table = data

    def stream(columns: Any, _floats: Any) -> Iterator[pa.RecordBatch]:
        t = table if columns is None else table.select(list(columns))
        yield from sliced(t.to_batches(max_chunksize=65_536))

    return Source(name, "arrow-table", table.schema, stream)


def evaluate(
    source: Any,
    *,
    per_sample: str | os.PathLike[str] | None = None,
    progress: ProgressCallback | None = None,
    per_sequence: str | os.PathLike[str] | None = None,
    **options: Any,
) -> Report:
    """Evaluate predictions against labels; ``options`` are :class:`~ce_cli.settings.Settings`.

    ``source`` is a path (``str`` or ``pathlib.Path``: Parquet, CSV, TSV, gzip'd CSV,
    Arrow/Feather, JSON Lines; a directory or glob of Parquet files), ``"-"`` for standard
    input, a ``pyarrow.Table`` or a pandas ``DataFrame``. ``per_sample`` writes one row per
    input row there, ``per_sequence`` one row per sequence (with ``sequence_col``).
    ``progress`` is called as ``progress(rows_done, total_rows)`` after each batch
    (``total_rows`` is ``None`` when the format does not say, as for CSV).
    ``engine="dask"`` runs the passes on a Dask cluster: ``scheduler`` is its address (without
    one, ce-eval starts a local cluster of ``workers`` processes and stops it afterwards), and
    ``partition_rows`` bounds a partition's rows (see :mod:`ce_cli.engine.dask`).
    Raises a :class:`~ce_cli.errors.CeEvalError` subclass for bad input.
    """
    # A pathlib.Path is a path like its text (os.fspath), for the input and both outputs.
    if isinstance(source, os.PathLike):
        source = os.fspath(source)
    per_sample = os.fspath(per_sample) if per_sample is not None else None
    per_sequence = os.fspath(per_sequence) if per_sequence is not None else None
    engine = options.pop("engine", None) or "local"
    cluster = {k: options.pop(k, None) for k in ("scheduler", "workers", "partition_rows")}
    settings = options.pop("settings", None) or Settings(**options)
    _check_engine(engine, cluster, source, settings, per_sample or per_sequence)
    if per_sample is not None:
        from ce_cli.io.atomic import refuse_inputs_as_outputs

        inputs = [p for p in (source, settings.labels_file) if isinstance(p, str) and p != "-"]
        refuse_inputs_as_outputs({"per_sample": per_sample}, inputs)
    if isinstance(source, str):
        src = open_source(source, settings.input_format)
    else:
        src = _table_source(source, options.get("name", "<table>"))
    try:
        if settings.labels_file:
            from ce_cli.io.join import join_labels

            labels = open_source(settings.labels_file)
            try:
                src = join_labels(src, labels, settings.id_col)
            except BaseException:
                labels.close()
                raise
        if engine == "dask":
            from ce_cli.engine.dask import DaskDriver

            assert isinstance(source, str)
            with DaskDriver(src, source, **cluster) as driver:
                return run(driver, settings, None, progress)
        return run(LocalDriver(src), settings, per_sample, progress, per_sequence)
    except CeEvalError as error:
        raise error.with_file(src.name) from None
    finally:
        src.close()


def _check_engine(
    engine: str,
    cluster: dict[str, Any],
    source: Any,
    settings: Settings,
    per_sample: str | None,
) -> None:
    """Refuse what an engine does not do, before anything is read or started."""
    if engine not in ("local", "dask"):
        raise UsageError("--engine must be 'local' or 'dask'", value=engine)
    if engine == "local":
        if cluster["scheduler"] is not None:
            raise UsageError("--scheduler needs --engine dask", hint="add --engine dask")
        return
    if not isinstance(source, str):
        raise UsageError(
            "--engine dask reads paths (files, directories, globs, URLs), not in-memory tables"
        )
    if per_sample:
        raise UsageError(
            "--per-sample and --per-sequence are not written by --engine dask",
            hint="run --engine local for per-sample output",
        )
    if settings.labels_file:
        raise UsageError(
            "--labels is joined by the local engine only", hint="run --engine local with --labels"
        )
    if settings.sequence_col:
        raise UsageError(
            "--sequence-col is summed by the local engine only (a sequence may span partitions)",
            hint="run --engine local with --sequence-col",
        )
