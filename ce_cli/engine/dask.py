"""The Dask driver: the same plan, batch function and state, on a Dask cluster.

The client (this process) decides the plan from the first rows exactly as the local driver does,
then cuts the input into partitions that know their global row offset:

* Parquet (a file, a directory or a glob): runs of whole row groups, about ``partition_rows``
  rows each (at least one row group), in the local engine's file order; the offsets come from
  the files' metadata row counts, read on the client, so no data is read twice.
* Any other format (CSV, TSV, JSON Lines, Arrow): one partition per file. A byte range of a CSV
  file cannot be parsed on its own (a quoted value may hold a line break) nor numbered without
  the rows before it, so it is read whole on one worker; convert to Parquet to spread a large
  file over the cluster.

Each worker reads its partition with pyarrow (through fsspec for URLs) and folds the batches
into a state with the pass's batch function; the states are merged pairwise in row order (a tree
of ``merge`` tasks), and the result is rendered as usual. Dask schedules and retries: a task
whose worker dies is run again elsewhere, and lost results are recomputed. Errors are the local
engine's: the first partition (in row order) that failed raises its error, which names the file
and the global row as the local engine does.

Per-sample output is not written by this engine (refused with a one-line error).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

import pyarrow as pa

from ce_cli.engine.local import LocalDriver, numbered
from ce_cli.engine.plan import Plan
from ce_cli.errors import CeEvalError, UsageError
from ce_cli.io.batching import batch_rows
from ce_cli.io.locate import TextCheck
from ce_cli.io.parquet import _parquet_buffer, _parquet_values_per_row
from ce_cli.io.readers import open_source
from ce_cli.io.remote import input_file
from ce_cli.io.source import Source, reading
from ce_cli.settings import Settings

S = TypeVar("S")
Step = Callable[[S, Plan, pa.RecordBatch, int], None]

# Rows a Parquet partition aims at (whole row groups): large enough that a task's overhead on the
# scheduler (about a millisecond) is small against its work, small enough to share out.
PARTITION_ROWS = 1 << 20
FOOTER_THREADS = 16
INSTALL_HINT = "pip install 'ce-eval[dask]' (dask[distributed])"


class ClusterError(CeEvalError):
    """The Dask cluster could not be reached or could not finish the work."""


@dataclass(frozen=True)
class Partition:
    """Part of the input for one task: a file, and for Parquet a run of its row groups."""

    path: str  # a local path or a URL
    format: str  # "parquet", or the format open_source reads the whole file as
    row_groups: tuple[int, ...] | None
    file_row: int  # 1-based row, within its file, of the partition's first row
    row_offset: int  # rows of the input before the partition


def partitions(source: Source, path: str, partition_rows: int) -> list[Partition]:
    """The input cut into partitions, in row order, each with its global row offset."""
    if source.format != "parquet" or not source.files:
        return [Partition(path, source.format, None, 1, 0)]
    out: list[Partition] = []
    offset = 0
    # The footers are read concurrently (object storage answers each in tens of milliseconds).
    with ThreadPoolExecutor(FOOTER_THREADS) as pool:
        sizes = list(pool.map(_row_group_sizes, source.files))
    for file, row_groups in zip(source.files, sizes, strict=True):
        groups: list[int] = []
        rows = 0
        file_row = 1
        for index, n in enumerate(row_groups):
            if groups and rows + n > partition_rows:
                out.append(Partition(file, "parquet", tuple(groups), file_row, offset))
                offset, file_row, groups, rows = offset + rows, file_row + rows, [], 0
            groups.append(index)
            rows += n
        if groups:
            out.append(Partition(file, "parquet", tuple(groups), file_row, offset))
            offset += rows
    return out


def _row_group_sizes(file: str) -> list[int]:
    import pyarrow.parquet as pq

    with reading(file):
        metadata = pq.ParquetFile(input_file(file), pre_buffer=False).metadata
    return [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]


def partition_batches(
    part: Partition,
    columns: Sequence[str],
    float_columns: Sequence[str],
    input_format: str | None,
    id_col: str | None = None,
) -> Iterator[tuple[pa.RecordBatch, int]]:
    """A partition's non-empty batches, each with its global row offset (rows before it); a
    CSV's ``id_col`` is read as text, as the local engine reads it."""
    if part.row_groups is None:
        from ce_cli.io.text import ids_as_text

        source = ids_as_text(open_source(part.path, input_format), id_col)
        try:
            for batch, first in numbered(source.batches(columns, float_columns)):
                yield batch, part.row_offset + first - 1
        finally:
            source.close()
        return
    import pyarrow.parquet as pq

    check = TextCheck(part.path)
    file_row, offset = part.file_row, part.row_offset
    with reading(part.path):
        metadata = pq.ParquetFile(input_file(part.path), pre_buffer=False).metadata
        reader = pq.ParquetFile(
            input_file(part.path), pre_buffer=False, buffer_size=_parquet_buffer(metadata)
        )
        batches = reader.iter_batches(  # batches sized as the local reader sizes them
            batch_size=batch_rows(_parquet_values_per_row(metadata, columns)),
            row_groups=list(part.row_groups),
            columns=list(columns),
        )
        for batch in batches:
            if not batch.num_rows:
                continue
            check(batch, file_row)
            yield batch, offset
            file_row += batch.num_rows
            offset += batch.num_rows


def fold_partition(
    plan: Plan,
    part: Partition,
    empty: Callable[[], S],
    step: Step[S],
    columns: Sequence[str] | None,
) -> S:
    """The task a worker runs: one partition's batches folded into a fresh state."""
    state = empty()
    read = plan.columns.read_columns if columns is None else columns
    floats = plan.columns.float_columns
    for batch, offset in partition_batches(
        part, read, floats, plan.settings.input_format, plan.settings.id_col
    ):
        step(state, plan, batch, offset)
    return state


class DaskDriver:
    """Runs the passes on a Dask cluster: ``scheduler`` (an address such as
    ``tcp://host:8786``), or a local cluster of ``workers`` processes started and stopped here."""

    # One batch per worker thread: Dask spreads the work, a batch does not use a thread pool.
    parallel = False

    def __init__(
        self,
        source: Source,
        path: str,
        scheduler: str | None = None,
        workers: int | None = None,
        partition_rows: int | None = None,
    ) -> None:
        if path == "-":
            raise UsageError(
                "--engine dask reads files the workers can open, not standard input",
                hint="write the input to a file (or object storage) and pass its path",
            )
        if workers is not None and workers < 1:
            raise UsageError("--workers must be >= 1", value=workers)
        if partition_rows is not None and partition_rows < 1:
            raise UsageError("partition_rows must be >= 1", value=partition_rows)
        self.source, self.path = source, path
        self.scheduler, self.workers = scheduler, workers
        self.partition_rows = partition_rows or PARTITION_ROWS
        self._local = LocalDriver(source)
        self._parts: list[Partition] = []
        self._client: Any = None
        self._cluster: Any = None
        self._hidden: list[Any] = []

    @property
    def name(self) -> str:
        return self.source.name

    @property
    def total_rows(self) -> int | None:
        return self.source.total_rows

    def __enter__(self) -> DaskDriver:
        self._hidden = _allow_pandas()
        try:
            self._connect()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _connect(self) -> None:
        try:
            distributed = _distributed()
        except ImportError:
            raise UsageError("--engine dask needs Dask", hint=INSTALL_HINT) from None
        if self.scheduler:
            try:
                self._client = distributed.Client(self.scheduler, timeout="10s")
            except (OSError, TimeoutError, ValueError) as exc:
                raise ClusterError(
                    f"cannot reach the Dask scheduler ({_first_line(exc)})",
                    value=self.scheduler,
                    hint="check the address (tcp://host:8786) and that the scheduler runs",
                ) from None
            return
        self._cluster = distributed.LocalCluster(
            n_workers=self.workers or max(1, min(os.cpu_count() or 1, 8)),
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # any free port: the scheduler always serves HTTP
            silence_logs=logging.CRITICAL,
            # Each worker evaluates one batch at a time on one thread (no pool of its own).
            env={"CE_EVAL_THREADS": "1"},
        )
        self._client = distributed.Client(self._cluster)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        try:
            if self._client is not None:
                self._client.close()
            if self._cluster is not None:
                self._cluster.close()
        finally:
            self._client = self._cluster = None
            for finder in self._hidden:
                sys.meta_path.insert(0, finder)
            self._hidden = []

    def plan(self, settings: Settings) -> Plan:
        """The plan from the first rows (read here, as the local engine reads them), and the
        partitions."""
        plan = self._local.plan(settings)
        self._local = LocalDriver(self.source)  # lets go of the stream the window was read from
        self._parts = partitions(self.source, self.path, self.partition_rows)
        return plan

    def fold(
        self,
        plan: Plan,
        empty: Callable[[], S],
        step: Step[S],
        merge: Callable[[S, S], S],
        *,
        columns: Sequence[str] | None = None,
        on_batch: Callable[[S], None] | None = None,
    ) -> S:
        """One pass: a task per partition, then their states merged pairwise in row order."""
        distributed = _distributed()

        client = self._client
        assert client is not None, "use the driver as a context manager"
        tasks = [
            client.submit(fold_partition, plan, part, empty, step, columns, pure=False)
            for part in self._parts
        ]
        try:
            distributed.wait(tasks)
            for task in tasks:  # the first failure in row order, as the local engine meets it
                if task.status == "error":
                    raise task.exception()
            while len(tasks) > 1:
                merged = [
                    client.submit(merge, tasks[i], tasks[i + 1], pure=False)
                    for i in range(0, len(tasks) - 1, 2)
                ]
                tasks = merged + tasks[len(merged) * 2 :]
            state: S = tasks[0].result()
        except CeEvalError:
            raise
        except (distributed.client.FutureCancelledError, OSError, TimeoutError) as exc:
            raise ClusterError(f"the Dask cluster failed ({_first_line(exc)})") from None
        except Exception as exc:
            if type(exc).__name__ != "KilledWorker":
                raise
            raise ClusterError(
                f"Dask gave up on a task whose workers kept dying ({_first_line(exc)})",
                hint="check the workers' memory limit and logs",
            ) from None
        if on_batch is not None:
            on_batch(state)
        return state


def _distributed() -> Any:
    """The ``distributed`` module (untyped: held as ``Any``)."""
    import importlib

    return importlib.import_module("distributed")


def _allow_pandas() -> list[Any]:
    """Lift the command's import block on pandas (see ``ce_cli.cli.main._keep_pandas_out``) while
    Dask runs: Dask imports pandas where it is installed. The finders are put back after."""
    hidden = [f for f in sys.meta_path if type(f).__name__ == "_NoPandas"]
    for finder in hidden:
        sys.meta_path.remove(finder)
    return hidden


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
