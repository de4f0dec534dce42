"""The path matrix: every path a user takes through ce-eval, held against its floor. Run by hand:

    .venv/bin/python benchmarks/path_matrix.py                       # every path, 3 pairs each
    .venv/bin/python benchmarks/path_matrix.py vocab32k vocab128k    # some paths
    .venv/bin/python benchmarks/path_matrix.py --scale 0.1           # a tenth of the rows: quicker
    .venv/bin/python benchmarks/path_matrix.py --make vocab32k       # only write the input

A path's *floor* is the least any tool must do to give the same figure: pyarrow reading the same
file (in batches of a few million values, so its memory is bounded too) and one NumPy pass
computing the same loss. Each path's input is made once, seeded, under ``benchmarks/data/``
(in a child process, so that no measured process inherits the maker's memory).

Each pair runs ce-eval and its floor in turn as whole processes (start-up, reading and
computing included), after one warm-up of each; the figures are the medians of the wall times
and of the peak resident memory (``ru_maxrss`` of the finished process), and the ratio is the
median of the pair-by-pair ratios, which holds when the machine's speed drifts (the smallest and
largest pair ratio beside it, and the median pair ratio of CPU time, user + system, which a busy
machine disturbs less than the wall time). On a shared machine the absolute times are noisy:
compare ratios, and rerun before trusting a small change.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
CE_EVAL = str(Path(sys.executable).parent / "ce-eval")
SEED = 20261202


# -- inputs -----------------------------------------------------------------------------------


def _write_chunks(
    path: Path, chunks: Callable[[int], object], n_chunks: int, row_group_rows: int
) -> None:
    """Write ``chunks(i)`` (pyarrow tables) one after the other, atomically."""
    import pyarrow.parquet as pq

    DATA.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    writer = None
    for i in range(n_chunks):
        table = chunks(i)
        writer = writer or pq.ParquetWriter(partial, table.schema)  # type: ignore[attr-defined]
        writer.write_table(table, row_group_size=row_group_rows)
    assert writer is not None
    writer.close()
    partial.rename(path)


def make_vocab(path: Path, rows: int, vocab: int) -> None:
    """A language-model export: ``rows`` tokens, each a list<float32> of ``vocab`` logits, its
    label (the next token id, ``-100`` for a tenth of them, as padding is), and the id of its
    sequence (contiguous runs of 50 to 400 tokens)."""
    import numpy as np
    import pyarrow as pa

    chunk_rows = max(1, min(rows, (1 << 25) // vocab))  # 128 MB of float32 a chunk
    n_chunks = -(-rows // chunk_rows)
    lengths = np.random.default_rng([SEED, 1]).integers(50, 401, rows)
    seq = np.repeat(np.arange(len(lengths)), lengths)[:rows]

    def chunk(i: int) -> pa.Table:
        rng = np.random.default_rng([SEED, 2, vocab, i])
        n = min(chunk_rows, rows - i * chunk_rows)
        labels = rng.integers(0, vocab, n)
        z = rng.standard_normal((n, vocab), dtype=np.float32)
        z *= 2.0
        z[np.arange(n), labels] += 6.0
        labels[rng.random(n) < 0.1] = -100
        values = pa.array(z.reshape(-1))
        offsets = pa.array(np.arange(0, (n + 1) * vocab, vocab, dtype=np.int32))
        start = i * chunk_rows
        return pa.table(
            {
                "seq": [f"doc-{s:06d}" for s in seq[start : start + n]],
                "label": labels,
                "logits": pa.ListArray.from_arrays(offsets, values),
            }
        )

    _write_chunks(path, chunk, n_chunks, chunk_rows)


def _probabilities(rng: object, n: int, classes: int) -> tuple[object, object]:
    import numpy as np

    gen: np.random.Generator = rng  # type: ignore[assignment]
    labels = gen.integers(0, classes, n)
    z = gen.standard_normal((n, classes), dtype=np.float32) * 2.0
    z[np.arange(n), labels] += 2.0
    e = np.exp(z.astype(np.float64) - z.max(axis=1, keepdims=True))
    return labels, e / e.sum(axis=1, keepdims=True), z


def make_wide(path: Path, rows: int, classes: int, kind: str) -> None:
    """``rows`` x ``classes`` float32 columns ``p_*`` (probabilities) or ``logit_*``, a label,
    and a ``split`` column of 10 group names."""
    import numpy as np
    import pyarrow as pa

    chunk_rows = 250_000
    prefix = "p_" if kind == "probs" else "logit_"

    def chunk(i: int) -> pa.Table:
        rng = np.random.default_rng([SEED, 3, classes, i])
        n = min(chunk_rows, rows - i * chunk_rows)
        labels, p, z = _probabilities(rng, n, classes)
        values = (p if kind == "probs" else z).astype(np.float32)  # type: ignore[union-attr]
        columns: dict[str, object] = {"label": labels}
        columns["split"] = [f"slice-{k}" for k in rng.integers(0, 10, n)]
        columns.update({f"{prefix}{j}": values[:, j] for j in range(classes)})
        return pa.table(columns)

    _write_chunks(path, chunk, -(-rows // chunk_rows), 65_536)


def make_multilabel(path: Path, rows: int, labels: int) -> None:
    """``rows`` x ``labels`` float32 sigmoid outputs ``p_*`` with 0/1 targets ``y_*``."""
    import numpy as np
    import pyarrow as pa

    chunk_rows = 250_000

    def chunk(i: int) -> pa.Table:
        rng = np.random.default_rng([SEED, 4, labels, i])
        n = min(chunk_rows, rows - i * chunk_rows)
        y = (rng.random((n, labels)) < 0.2).astype(np.int8)
        z = rng.standard_normal((n, labels)) + 3.0 * (y - 0.5)
        q = (1.0 / (1.0 + np.exp(-z))).astype(np.float32)
        columns = {f"p_{j}": q[:, j] for j in range(labels)}
        columns.update({f"y_{j}": y[:, j] for j in range(labels)})
        return pa.table(columns)

    _write_chunks(path, chunk, -(-rows // chunk_rows), 65_536)


def make_csv(path: Path, rows: int, classes: int) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pcsv

    rng = np.random.default_rng([SEED, 5])
    labels, p, _ = _probabilities(rng, rows, classes)
    columns: dict[str, object] = {"label": labels}
    columns.update({f"p_{j}": p[:, j] for j in range(classes)})  # type: ignore[index]
    DATA.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    pcsv.write_csv(pa.table(columns), partial)
    partial.rename(path)


# -- floors: pyarrow read + one NumPy pass ----------------------------------------------------

_READ = """
import sys, numpy as np, pyarrow.parquet as pq
f = pq.ParquetFile(sys.argv[1], pre_buffer=False)
group = f.metadata.row_group(0)
def batches(columns=None, values=1 << 22):
    per_row = sum(group.column(j).num_values for j in range(group.num_columns))
    per_row = max(1, per_row // max(group.num_rows, 1))
    return f.iter_batches(batch_size=max(1, min(65536, values // per_row)), columns=columns)
def stack(batch, prefix):
    names = batch.schema.names
    return np.stack([batch.column(n).to_numpy() for n in names if n.startswith(prefix)], 1)
"""

FLOOR_PROBS = (
    _READ
    + """
total = 0.0
for batch in batches():
    t = batch.column("label").to_numpy()
    P = stack(batch, "p_")
    total -= float(np.log(np.maximum(P[np.arange(len(t)), t], 1e-7)).sum())
    total += float(np.log(P).sum())  # one pass over every value
print(total)
"""
)

FLOOR_LOGITS = (
    _READ
    + """
total = 0.0
for batch in batches():
    t = batch.column("label").to_numpy()
    Z = stack(batch, "logit_")
    m = Z.max(axis=1)
    lse = m + np.log(np.exp(Z - m[:, None]).sum(axis=1))
    total += float((lse - Z[np.arange(len(t)), t]).sum())
print(total)
"""
)

FLOOR_VOCAB = (
    _READ
    + """
total = 0.0
for batch in batches(["label", "logits"]):
    t = batch.column("label").to_numpy()
    lists = batch.column("logits")
    Z = lists.values.to_numpy().reshape(len(t), -1)
    keep = t != -100
    Z, t = Z[keep], t[keep]
    m = Z.max(axis=1)
    lse = m + np.log(np.exp(Z - m[:, None]).sum(axis=1))
    total += float((lse - Z[np.arange(len(t)), t]).sum())
print(total)
"""
)

FLOOR_MULTILABEL = (
    _READ
    + """
total = 0.0
for batch in batches():
    Q = stack(batch, "p_").astype(np.float64)
    Y = stack(batch, "y_")
    total -= float(np.where(Y == 1, np.log(Q), np.log1p(-Q)).sum())
print(total)
"""
)

FLOOR_GROUPS = (
    _READ
    + """
sums = {}
for batch in batches():
    t = batch.column("label").to_numpy()
    P = stack(batch, "p_")
    loss = -np.log(np.maximum(P[np.arange(len(t)), t], 1e-7).astype(np.float64))
    total = float(np.log(P).sum())  # one pass over every value
    codes = batch.column("split").dictionary_encode()
    per = np.bincount(codes.indices.to_numpy(), loss, minlength=len(codes.dictionary))
    for name, s in zip(codes.dictionary.to_pylist(), per):
        sums[name] = sums.get(name, 0.0) + s
print(sorted(sums.items())[:2], total)
"""
)

FLOOR_CI = (
    _READ
    + """
losses = []
for batch in batches():
    t = batch.column("label").to_numpy()
    P = stack(batch, "p_")
    losses.append(-np.log(np.maximum(P[np.arange(len(t)), t], 1e-7).astype(np.float64)))
    np.log(P).sum()  # one pass over every value
loss = np.concatenate(losses)
rng = np.random.default_rng(0)
means = []
for _ in range(200):
    w = rng.poisson(1.0, len(loss))
    means.append(float(w @ loss) / float(w.sum()))
print(np.percentile(means, [2.5, 97.5]))
"""
)

FLOOR_CSV = """
import sys, pyarrow.csv as pcsv
print(pcsv.read_csv(sys.argv[1]).num_rows)
"""


@dataclass(frozen=True)
class BenchPath:
    """One path: its input, how to make it, ce-eval's options, and its floor."""

    name: str
    title: str
    file: str
    make: Callable[[Path], None]
    options: tuple[str, ...]
    floor: str


def paths(scale: float) -> list[BenchPath]:
    def n(rows: int) -> int:
        return max(1000, int(rows * scale))

    m, v32, v128, v256 = n(1_000_000), n(20_000), n(2_000), n(1_000)
    return [
        BenchPath(
            "probs",
            f"{m:,} x 100 float32 probabilities (Parquet)",
            f"probs_{m}x100.parquet",
            lambda p: make_wide(p, m, 100, "probs"),
            (),
            FLOOR_PROBS,
        ),
        BenchPath(
            "logits",
            f"{m:,} x 100 float32 logits (Parquet)",
            f"logits_{m}x100.parquet",
            lambda p: make_wide(p, m, 100, "logits"),
            (),
            FLOOR_LOGITS,
        ),
        BenchPath(
            "vocab32k",
            f"{v32:,} tokens x 32,000-class logits, one list column",
            f"vocab_{v32}x32000.parquet",
            lambda p: make_vocab(p, v32, 32_000),
            ("--ignore-label", "-100"),
            FLOOR_VOCAB,
        ),
        BenchPath(
            "vocab128k",
            f"{v128:,} tokens x 128,000-class logits, one list column",
            f"vocab_{v128}x128000.parquet",
            lambda p: make_vocab(p, v128, 128_000),
            ("--ignore-label", "-100"),
            FLOOR_VOCAB,
        ),
        BenchPath(
            "vocab256k",
            f"{v256:,} tokens x 256,000-class logits, one list column",
            f"vocab_{v256}x256000.parquet",
            lambda p: make_vocab(p, v256, 256_000),
            ("--ignore-label", "-100"),
            FLOOR_VOCAB,
        ),
        BenchPath(
            "sequences",
            f"{v32:,} tokens x 32,000, per-sequence perplexity",
            f"vocab_{v32}x32000.parquet",
            lambda p: make_vocab(p, v32, 32_000),
            ("--ignore-label", "-100", "--sequence-col", "seq"),
            FLOOR_VOCAB,
        ),
        BenchPath(
            "multilabel",
            f"multi-label {m:,} x 50",
            f"multilabel_{m}x50.parquet",
            lambda p: make_multilabel(p, m, 50),
            ("--target-cols", "y_*", "--task", "multilabel"),
            FLOOR_MULTILABEL,
        ),
        BenchPath(
            "groups",
            f"--group-col with 10 groups, {m:,} x 100",
            f"probs_{m}x100.parquet",
            lambda p: make_wide(p, m, 100, "probs"),
            ("--group-col", "split"),
            FLOOR_GROUPS,
        ),
        BenchPath(
            "ci",
            f"--ci 0.95 (200 replicates), {m:,} x 100",
            f"probs_{m}x100.parquet",
            lambda p: make_wide(p, m, 100, "probs"),
            ("--ci", "0.95"),
            FLOOR_CI,
        ),
        BenchPath(
            "csv",
            f"CSV {n(200_000):,} x 20 probabilities",
            f"probs_{n(200_000)}x20.csv",
            lambda p: make_csv(p, n(200_000), 20),
            (),
            FLOOR_CSV,
        ),
    ]


# -- measuring --------------------------------------------------------------------------------


def run_process(argv: list[str]) -> tuple[float, float, float]:
    """Wall seconds, peak RSS (MiB) and CPU seconds (user + system) of one whole process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) not in (0, 1):  # 1: a gate failed, still a report
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise SystemExit(f"benchmark command failed: {' '.join(argv)}\n{err}")
    return wall, usage.ru_maxrss / 1024.0, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="paths to run (default: all)")
    parser.add_argument("--repeat", type=int, default=3, help="pairs per path (default 3)")
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the rows")
    parser.add_argument("--make", action="store_true", help="only write the inputs")
    args = parser.parse_args()
    every = paths(args.scale)
    chosen = [p for p in every if not args.names or p.name in args.names]
    unknown = set(args.names) - {p.name for p in every}
    if unknown:
        parser.error(
            f"unknown path(s) {', '.join(sorted(unknown))}; known: "
            + ", ".join(p.name for p in every)
        )
    for path in chosen:
        target = DATA / path.file
        if not target.exists():
            # In a child, so this process (whose children are measured) stays small.
            code = (
                "import sys; sys.path.insert(0, sys.argv[1]); import path_matrix as paths; "
                "from pathlib import Path; "
                "[p for p in paths.paths(float(sys.argv[2])) if p.name == sys.argv[3]][0]"
                ".make(Path(sys.argv[4]))"
            )
            print(f"making {target.name} …", file=sys.stderr, flush=True)
            subprocess.run(
                [sys.executable, "-c", code, str(HERE), str(args.scale), path.name, str(target)],
                check=True,
            )
    if args.make:
        return
    print(
        f"{os.cpu_count()} cores (shared: noisy); medians over {args.repeat} pairs taken in "
        "turn after a warm-up; ratio = median of the pair-by-pair wall ratios\n"
    )
    header = (
        f"{'path':<52} {'ce-eval':>8} {'floor':>8} {'ratio':>6} {'(pairs)':>11} "
        f"{'CPU ratio':>9} {'peak':>9} {'floor peak':>11}"
    )
    print(header)
    for path in chosen:
        target = str(DATA / path.file)
        ours = [CE_EVAL, target, "--format", "json", "-q", *path.options]
        floor = [sys.executable, "-c", textwrap.dedent(path.floor), target]
        run_process(ours)
        run_process(floor)
        pairs = [(run_process(ours), run_process(floor)) for _ in range(args.repeat)]
        wall = statistics.median(a[0] for a, _ in pairs)
        peak = statistics.median(a[1] for a, _ in pairs)
        floor_wall = statistics.median(b[0] for _, b in pairs)
        floor_peak = statistics.median(b[1] for _, b in pairs)
        ratios = [a[0] / b[0] for a, b in pairs]
        cpu_ratio = statistics.median(a[2] / b[2] for a, b in pairs)
        spread = f"{min(ratios):.2f}–{max(ratios):.2f}"
        ratio = statistics.median(ratios)
        print(
            f"{path.title:<52} {wall:>7.2f}s {floor_wall:>7.2f}s {ratio:>5.2f}x "
            f"{spread:>11} {cpu_ratio:>8.2f}x {peak:>6.0f} MiB {floor_peak:>7.0f} MiB",
            flush=True,
        )


if __name__ == "__main__":
    main()
