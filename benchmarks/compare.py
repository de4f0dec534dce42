"""``ce-eval compare`` timing and memory, run by hand: two models on the same rows.

    .venv/bin/python benchmarks/compare.py                     # 1,000,000 x 10 float32 logits
    .venv/bin/python benchmarks/compare.py --rows 200000 --by-id

Writes two seeded Parquet files (A sharp, B blurred; with ``--by-id`` B's rows shuffled and
paired by ``--id-col id``), runs ``ce-eval compare`` on them as a process ``--repeat`` times and
prints each run's wall time, CPU time and peak resident memory (the child's own accounting),
then the median. On a shared machine quote the median and rerun before trusting a small change.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

DATA = Path(__file__).resolve().parent / "data"


def make(rows: int, classes: int, shuffled: bool) -> tuple[Path, Path]:
    DATA.mkdir(exist_ok=True)
    stem = f"compare_{rows}x{classes}"
    path_a, path_b = DATA / f"{stem}_a.parquet", DATA / f"{stem}_b{'_shuffled' * shuffled}.parquet"
    if path_a.exists() and path_b.exists():
        return path_a, path_b
    rng = np.random.default_rng(20261202)
    labels = rng.integers(0, classes, rows)
    ids = np.arange(rows)
    for path, scale in ((path_a, 1.0), (path_b, 0.5)):
        z = (rng.standard_normal((rows, classes)) * scale).astype(np.float32)
        z[np.arange(rows), labels] += 1.5
        table = pa.table(
            {"id": ids, "label": labels, **{f"logit_{j}": z[:, j] for j in range(classes)}}
        )
        if path is path_b and shuffled:
            table = table.take(pa.array(rng.permutation(rows)))
        pq.write_table(table, path)
    return path_a, path_b


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--by-id", action="store_true", help="shuffle B and pair by --id-col id")
    args = parser.parse_args()
    path_a, path_b = make(args.rows, args.classes, args.by_id)
    command = [sys.executable, "-m", "ce_cli", "compare", str(path_a), str(path_b)]
    command += ["--bootstrap", str(args.bootstrap), "--format", "json"]
    if args.by_id:
        command += ["--id-col", "id"]
    walls, cpus, peaks = [], [], []
    for _ in range(args.repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        # ru_maxrss of the children is the largest so far: the first run's peak stands for all
        # unless a later run exceeds it.
        peak = after.ru_maxrss / 1024
        walls.append(wall)
        cpus.append(cpu)
        peaks.append(peak)
        print(f"wall {wall:6.2f} s  cpu {cpu:6.2f} s  peak {peak:6.0f} MiB", flush=True)
    print(
        f"median: wall {statistics.median(walls):.2f} s, cpu {statistics.median(cpus):.2f} s, "
        f"peak {max(peaks):.0f} MiB ({args.rows:,} x {args.classes}, "
        f"{'by id' if args.by_id else 'by position'}, {args.bootstrap} replicates)"
    )


if __name__ == "__main__":
    main()
