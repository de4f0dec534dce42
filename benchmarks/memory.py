"""Peak memory on large Parquet files, whatever the writer's row-group size. Run by hand:

    .venv/bin/python benchmarks/memory.py                   # 10,000,000 x 100 float32, ~5 GB each
    .venv/bin/python benchmarks/memory.py --rows 2000000    # quicker
    .venv/bin/python benchmarks/memory.py --keep            # keep the files for later runs
    .venv/bin/python benchmarks/memory.py --ce-eval OTHER   # another build's command, to compare

Writes two seeded Parquet files of ``--rows`` rows x ``--classes`` float32 probability columns
(``p_0``..), an int64 ``label`` column and a small int8 ``group`` column (ten values, for
``--group-col``; the default report does not read it), one with row groups of 500,000 rows and
one with pyarrow's default of 1,048,576 (``row_group_size`` is a write-time choice of whoever
made the file), with pyarrow's other defaults (snappy, 1 MiB pages and dictionaries). Both hold
the same rows. Each is written one row group at a time by a child process, so neither this
process nor the one measured ever holds a file. Then, for each file, it runs ``ce-eval`` as a
whole process, one after the other, and prints its peak resident memory (``ru_maxrss`` of the
finished child, what ``/usr/bin/time -v`` reports as "Maximum resident set size"; the range
over the runs) and its CPU seconds (user + system, the best run) for:

* the default report, ``ce-eval FILE --format json`` (the bar: under 512 MiB), ``--repeat``
  runs (3);
* ``--ci 0.95`` (200 bootstrap replicates), ``--group-col group`` and ``--per-sample
  OUT.parquet`` (one row per input row, written as it goes), ``--repeat-others`` runs (1).

Each report's SHA-256 (without its ``source``) is printed too, so the two files and two builds
can be compared to the last digit. The files are deleted at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
CE_EVAL = str(Path(sys.executable).parent / "ce-eval")
ROW_GROUPS = (500_000, 1_048_576)
# Rows drawn at a time while a row group is made (bounds the writer's float64 scratch).
DRAW = 131_072


def write(path: Path, rows: int, classes: int, row_group: int, seed: int) -> None:
    """The file, one row group at a time. Rows are drawn in blocks of :data:`DRAW` rows on a
    fixed grid, each seeded by (seed, its index), so both files hold the very same rows
    whatever their row groups."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    def block(k: int) -> pa.Table:
        n = min(DRAW, rows - k * DRAW)
        rng = np.random.default_rng([seed, k])
        labels = rng.integers(0, classes, n)
        z = rng.standard_normal((n, classes), dtype=np.float32) * 2.0
        z[np.arange(n), labels] += 2.0
        e = np.exp(z - z.max(axis=1, keepdims=True))
        p = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
        group = rng.integers(0, 10, n, dtype=np.int8)
        columns = {"label": labels, **{f"p_{j}": p[:, j] for j in range(classes)}}
        return pa.table({**columns, "group": group})

    cached: dict[int, pa.Table] = {}

    def rows_of(start: int, stop: int) -> pa.Table:
        pieces = []
        for k in range(start // DRAW, (stop - 1) // DRAW + 1):
            if k not in cached:
                cached.clear()  # a row group ends at most one block past the last one
                cached[k] = block(k)
            a = max(start, k * DRAW) - k * DRAW
            b = min(stop, (k + 1) * DRAW) - k * DRAW
            pieces.append(cached[k].slice(a, b - a))
        return pa.concat_tables(pieces).combine_chunks()

    partial = path.with_suffix(".partial")
    writer: pq.ParquetWriter | None = None
    try:
        for start in range(0, rows, row_group):
            table = rows_of(start, min(rows, start + row_group))
            if writer is None:
                writer = pq.ParquetWriter(partial, table.schema)
            writer.write_table(table, row_group_size=row_group)
            del table
    finally:
        if writer is not None:
            writer.close()
    partial.replace(path)


def run(argv: list[str]) -> tuple[float, float, str]:
    """Peak RSS (MiB), CPU seconds (user + system) and the SHA-256 of the JSON report one
    process printed (its ``source``, the file's name, left out: both files give one report)."""
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.PIPE)
        err = proc.stderr.read() if proc.stderr else b""
        _, status, usage = os.wait4(proc.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"failed: {' '.join(argv)}\n{err.decode(errors='replace')}")
        out.seek(0)
        report = json.load(out)
    report.pop("source", None)
    digest = hashlib.sha256(json.dumps(report, sort_keys=True).encode()).hexdigest()[:16]
    return usage.ru_maxrss / 1024.0, usage.ru_utime + usage.ru_stime, digest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--classes", type=int, default=100)
    parser.add_argument("--seed", type=int, default=20261202)
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of the default report (the best CPU kept)"
    )
    parser.add_argument(
        "--repeat-others", type=int, default=1, help="runs of each other command (--ci is slow)"
    )
    parser.add_argument("--only-default", action="store_true", help="the default report only")
    parser.add_argument("--skip-default", action="store_true", help="the other commands only")
    parser.add_argument("--keep", action="store_true", help="keep the files in benchmarks/data/")
    parser.add_argument("--ce-eval", default=CE_EVAL, help="the command to measure")
    parser.add_argument("--write", nargs=2, metavar=("PATH", "ROW_GROUP"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write:
        write(Path(args.write[0]), args.rows, args.classes, int(args.write[1]), args.seed)
        return
    DATA.mkdir(parents=True, exist_ok=True)
    paths = []
    for row_group in ROW_GROUPS:
        path = DATA / f"memory_{args.rows}x{args.classes}_rg{row_group}.parquet"
        if not path.exists():
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, __file__, "--rows", str(args.rows), "--classes",
                 str(args.classes), "--seed", str(args.seed), "--write", str(path),
                 str(row_group)],
                check=True,
            )  # fmt: skip
            print(f"wrote {path.name} in {time.perf_counter() - start:.0f} s", flush=True)
        paths.append(path)
    variants: list[tuple[str, list[str]]] = [] if args.skip_default else [("default", [])]
    if not args.only_default:
        variants += [
            ("--ci 0.95", ["--ci", "0.95"]),
            ("--group-col group", ["--group-col", "group"]),
            ("--per-sample out.parquet", ["--per-sample", "{out}"]),
        ]
    print(f"{'file':<44} {'command':<26} {'peak MiB':>9} {'CPU s':>7}  report sha256")
    print(f"{'':<44} {'':<26} {'(range)':>9} {'(best)':>7}")
    try:
        for path in paths:
            size = path.stat().st_size / 1e9
            for label, extra in variants:
                with tempfile.TemporaryDirectory() as tmp:
                    out = os.path.join(tmp, "out.parquet")
                    argv = [args.ce_eval, str(path), "--format", "json", "-q"]
                    argv += [a.replace("{out}", out) for a in extra]
                    repeat = args.repeat if not extra else args.repeat_others
                    runs = [run(argv) for _ in range(repeat)]
                peaks = sorted(r[0] for r in runs)
                peak = f"{peaks[0]:.0f}" + (f"-{peaks[-1]:.0f}" if len(runs) > 1 else "")
                cpu = min(r[1] for r in runs)
                digests = {r[2] for r in runs}
                digest = digests.pop() if len(digests) == 1 else "DIFFERS BETWEEN RUNS"
                name = f"{path.name} ({size:.1f} GB)"
                print(f"{name:<44} {label:<26} {peak:>9} {cpu:>7.1f}  {digest}", flush=True)
    finally:
        if not args.keep:
            for path in paths:
                path.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
