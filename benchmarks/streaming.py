"""Streaming check, run by hand: a Parquet file far larger than the memory ce-eval may use.

    .venv/bin/python benchmarks/streaming.py                 # 10,000,000 x 100 float32 (~6 GB)
    .venv/bin/python benchmarks/streaming.py --rows 2000000  # quicker

Writes the file chunk by chunk (seeded), runs ``ce-eval`` on it as a process and reports its
wall time and peak resident memory, then evaluates the very same rows in memory through the
Python API and prints the largest relative difference between the two reports' metrics.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

DATA = Path(__file__).resolve().parent / "data"
CHUNK = 500_000


def chunk(index: int, rows: int, classes: int) -> pa.Table:
    rng = np.random.default_rng([20261123, index])
    labels = rng.integers(0, classes, rows)
    z = rng.standard_normal((rows, classes), dtype=np.float32) * 2.0
    z[np.arange(rows), labels] += 2.0
    e = np.exp(z - z.max(axis=1, keepdims=True))
    p = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
    return pa.table({"label": labels, **{f"p_{j}": p[:, j] for j in range(classes)}})


def make(path: Path, rows: int, classes: int) -> None:
    if path.exists():
        return
    DATA.mkdir(parents=True, exist_ok=True)
    writer = None
    for i, start in enumerate(range(0, rows, CHUNK)):
        table = chunk(i, min(CHUNK, rows - start), classes)
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=65_536)
    assert writer is not None
    writer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--classes", type=int, default=100)
    parser.add_argument("--skip-in-memory", action="store_true")
    parser.add_argument("--make-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    path = DATA / f"stream_{args.rows}x{args.classes}.parquet"
    if args.make_only:
        make(path, args.rows, args.classes)
        return
    if not path.exists():
        # Made by a child: the parent stays small, so its children's peak RSS is their own.
        subprocess.run(
            [sys.executable, __file__, "--make-only", "--rows", str(args.rows),
             "--classes", str(args.classes)],
            check=True,
        )  # fmt: skip
    print(f"{path.name}: {path.stat().st_size / 1e9:.2f} GB, {args.rows:,} rows x {args.classes}")
    ce_eval = str(Path(sys.executable).parent / "ce-eval")
    start = time.perf_counter()
    proc = subprocess.Popen([ce_eval, str(path), "--format", "json", "-q"], stdout=subprocess.PIPE)
    out = proc.stdout.read() if proc.stdout else b""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    assert os.waitstatus_to_exitcode(status) == 0
    streamed = json.loads(out)["metrics"]
    print(f"ce-eval (streaming): {wall:.2f} s wall, peak RSS {usage.ru_maxrss / 1024:.0f} MiB")
    if args.skip_in_memory:
        return
    import ce_cli

    table = pa.concat_tables(
        chunk(i, min(CHUNK, args.rows - s), args.classes)
        for i, s in enumerate(range(0, args.rows, CHUNK))
    )
    in_memory = ce_cli.evaluate(table).metrics
    worst = max(abs(streamed[k] - in_memory[k]) / max(abs(in_memory[k]), 1e-300) for k in in_memory)
    print(f"in-memory vs streamed: largest relative difference {worst:.2e} over every metric")


if __name__ == "__main__":
    main()
