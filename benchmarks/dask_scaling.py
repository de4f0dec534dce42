"""Scaling of the Dask engine: partitions and workers against time. Run by hand:

    .venv/bin/python benchmarks/dask_scaling.py                 # 4,000,000 x 10 float32 logits
    .venv/bin/python benchmarks/dask_scaling.py --rows 1000000  # quicker

It writes a seeded Parquet dataset under ``benchmarks/data/`` (8 files, row groups of 125,000
rows), then times, in this one process: the local engine, and the Dask engine on a
``distributed.LocalCluster`` of 1 and 2 worker processes (one thread each; the cluster started
once per worker count, outside the timing) for several partition sizes. Each figure is the
median (and min-max) wall time of ``--repeat`` runs of ``ce_cli.evaluate``, plan included; the
per-row cost of one worker is printed last, from which to estimate larger runs.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import ce_cli

FILES = 8
ROW_GROUP = 125_000
CLASSES = 10


def make_dataset(rows: int) -> Path:
    folder = Path(__file__).with_name("data") / f"dask-{rows}x{CLASSES}"
    if folder.exists():
        return folder
    folder.mkdir(parents=True)
    rng = np.random.default_rng(16)
    per_file = rows // FILES
    for f in range(FILES):
        z = rng.standard_normal((per_file, CLASSES), dtype=np.float32) * 2
        y = rng.integers(0, CLASSES, per_file)
        columns = {"label": pa.array(y)}
        columns |= {f"z_{j}": pa.array(z[:, j]) for j in range(CLASSES)}
        pq.write_table(
            pa.table(columns), folder / f"part-{f:03d}.parquet", row_group_size=ROW_GROUP
        )
    return folder


def count_partitions(path: str, partition_rows: int) -> int:
    """How many partitions the Dask engine cuts the dataset into (never across files)."""
    from ce_cli.engine.dask import partitions
    from ce_cli.io.readers import open_source

    source = open_source(path)
    try:
        return len(partitions(source, path, partition_rows))
    finally:
        source.close()


def timed(repeat: int, **options: Any) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        ce_cli.evaluate(**options)
        times.append(time.perf_counter() - start)
    return times


def show(label: str, times: list[float]) -> float:
    median = statistics.median(times)
    print(f"{label:<44} {median:7.2f} s   ({min(times):.2f}-{max(times):.2f})", flush=True)
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    import distributed

    path = str(make_dataset(args.rows))
    options = {"source": path, "label_col": "label", "prob_cols": "z_*", "logits": True}
    print(
        f"{args.rows:,} rows x {CLASSES} float32 logits, {FILES} files, row groups of "
        f"{ROW_GROUP:,}; {os.cpu_count()} cores"
    )
    show("local engine", timed(args.repeat, **options))
    per_row = {}
    for workers in (1, 2):
        with distributed.LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            dashboard_address=":0",
            silence_logs=logging.CRITICAL,
            env={"CE_EVAL_THREADS": "1"},
        ) as cluster:
            for partition_rows in (ROW_GROUP, 2 * ROW_GROUP, args.rows):
                partitions = count_partitions(path, partition_rows)
                label = f"dask, {workers} worker(s), {partitions} partitions"
                median = show(
                    label,
                    timed(
                        args.repeat,
                        engine="dask",
                        scheduler=cluster.scheduler_address,
                        partition_rows=partition_rows,
                        **options,
                    ),
                )
                per_row[(workers, partitions)] = median / args.rows
    best_one = min(v for (w, _), v in per_row.items() if w == 1)
    print(f"one worker: {best_one * 1e9:.0f} ns a row ({1 / best_one / 1e6:.2f} M rows/s)")


if __name__ == "__main__":
    main()
